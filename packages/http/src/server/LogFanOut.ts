import type { EventStore } from "@messaging-api/domain"
import { Cause, Deferred, Effect, Fiber, Queue, Schema, type Scope, Stream } from "effect"
import type { SqlError } from "effect/sql"

/**
 * One follower of the global log shared by many readers: it reads the log once and hands each
 * event to the subscribers of its key (a conversation's stream, an installation), each through a
 * bounded buffer of its own. It runs while it has subscribers: the first one starts it (from the
 * log's head), the last one to leave stops it. A subscriber that lets its buffer fill up is ended
 * with `StreamFellBehind` rather than slowing the others down or growing without bound; a live
 * stream's client then reconnects with the last id it saw and misses nothing.
 */

/** The subscriber did not take its events as fast as they came: its buffer was full. */
export class StreamFellBehind extends Schema.TaggedError<StreamFellBehind>()("StreamFellBehind", {
  buffer: Schema.Number
}) {}

export type FanOutError = SqlError.SqlError | StreamFellBehind

export interface LogFanOut {
  /**
   * The events of `key` from now on (every event the follower reads after this returns), for as
   * long as the scope is open. Subscribe before reading what came before, then drop what that
   * read already covered: nothing falls between the two.
   */
  subscribe(
    key: string
  ): Effect.Effect<Stream.Stream<EventStore.RecordedEvent, FanOutError>, SqlError.SqlError, Scope.Scope>
}

export interface LogFanOutOptions {
  /** Where a new follower starts: the log's head when it starts. */
  readonly head: Effect.Effect<EventStore.LogPosition, SqlError.SqlError>
  /** The log from a position on. */
  readonly follow: (
    from: EventStore.LogPosition
  ) => Stream.Stream<EventStore.RecordedEvent, SqlError.SqlError>
  /**
   * The key an event goes to (undefined: nobody's): the key itself when the event names it, an
   * Effect only when it must be looked up (the follower yields for those events alone).
   */
  readonly keyOf: (event: EventStore.RecordedEvent) => Key | Effect.Effect<Key, SqlError.SqlError>
  /** Events one subscriber may have waiting before it is ended. */
  readonly buffer: number
}

/** A subscription's key, or undefined for an event nobody subscribes to. */
export type Key = string | undefined

type Subscriber = Queue.Queue<EventStore.RecordedEvent, FanOutError | Cause.Done>

interface Following {
  /** Done once the follower knows where it starts: a subscriber may then read what came before. */
  readonly started: Deferred.Deferred<void, SqlError.SqlError>
  fiber: Fiber.Fiber<void> | undefined
}

export const make = (options: LogFanOutOptions): Effect.Effect<LogFanOut, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const subscribers = new Map<string, Set<Subscriber>>()
    let count = 0
    let current: Following | undefined

    const remove = (key: string, subscriber: Subscriber) => {
      const set = subscribers.get(key)
      if (set === undefined || !set.delete(subscriber)) return false
      if (set.size === 0) subscribers.delete(key)
      count -= 1
      return true
    }

    /** Hands an event to the subscribers of its key; a full buffer ends its subscriber. */
    const deliver = (key: string, event: EventStore.RecordedEvent) => {
      const set = subscribers.get(key)
      if (set === undefined) return
      for (const subscriber of set) {
        if (Queue.offerUnsafe(subscriber, event)) continue
        Queue.failCauseUnsafe(subscriber, Cause.fail(new StreamFellBehind({ buffer: options.buffer })))
        remove(key, subscriber)
      }
    }

    /**
     * Hands a batch to its subscribers, in order, unless this follower has been replaced meanwhile.
     * Synchronous per event but for the keys that must be looked up.
     */
    const dispatch = Effect.fnUntraced(function* (
      me: Following,
      batch: ReadonlyArray<EventStore.RecordedEvent>
    ) {
      for (const event of batch) {
        if (current !== me) return
        if (count === 0) continue
        const found = options.keyOf(event)
        const key = found === undefined || typeof found === "string" ? found : yield* found
        if (key === undefined || current !== me) continue
        deliver(key, event)
      }
    })

    /** The follower failed: its subscribers end with the error (their clients reconnect). */
    const failAll = (me: Following, cause: Cause.Cause<SqlError.SqlError>) =>
      Effect.sync(() => {
        Deferred.doneUnsafe(me.started, Effect.failCause(cause))
        if (current !== me) return
        current = undefined
        for (const set of subscribers.values())
          for (const subscriber of set) Queue.failCauseUnsafe(subscriber, cause)
        subscribers.clear()
        count = 0
      })

    const run = (me: Following) =>
      Effect.gen(function* () {
        const from = yield* options.head
        yield* Deferred.succeed(me.started, undefined)
        yield* options.follow(from).pipe(Stream.runForEachArray((batch) => dispatch(me, batch)))
      }).pipe(
        Effect.onError((cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.void : failAll(me, cause as Cause.Cause<SqlError.SqlError>)
        ),
        Effect.catchCause(() => Effect.void)
      )

    const join = (key: string, subscriber: Subscriber) =>
      Effect.gen(function* () {
        const set = subscribers.get(key)
        if (set === undefined) subscribers.set(key, new Set([subscriber]))
        else set.add(subscriber)
        count += 1
        if (current === undefined) {
          const following: Following = { started: Deferred.makeUnsafe(), fiber: undefined }
          current = following
          // Forked from inside the subscription's acquire, which cannot be interrupted: the follower
          // itself must be, or the last subscriber's leaving could never stop it.
          following.fiber = yield* Effect.forkIn(Effect.interruptible(run(following)), scope)
        }
        return current
      })

    const leave = (key: string, subscriber: Subscriber) =>
      Effect.suspend(() => {
        if (!remove(key, subscriber) || count > 0 || current === undefined) return Effect.void
        // The last one left: the follower stops (the next subscriber starts another from the head).
        const fiber = current.fiber
        current = undefined
        // Stopped in the background: a closing stream does not wait for the follower's last read.
        return fiber === undefined ? Effect.void : Effect.asVoid(Effect.forkIn(Fiber.interrupt(fiber), scope))
      })

    const subscribe = (key: string) =>
      Effect.gen(function* () {
        const queue: Subscriber = yield* Queue.bounded<EventStore.RecordedEvent, FanOutError | Cause.Done>(
          options.buffer
        )
        const following = yield* Effect.acquireRelease(join(key, queue), () => leave(key, queue))
        yield* Deferred.await(following.started)
        return Stream.fromQueue(queue)
      })

    return { subscribe }
  })
