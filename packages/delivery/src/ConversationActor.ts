import {
  type ConversationCommands,
  type ConversationStream,
  EventStore,
  type Ids,
  Instant
} from "@messaging-api/domain"
import { hotSpan, traceOrigin } from "@messaging-api/domain/Tracing"
import { Clock, Duration, Effect, Exit, Latch, Semaphore } from "effect"
import * as ActorBotTurn from "./ActorBotTurn.ts"
import * as ActorDelivery from "./ActorDelivery.ts"
import * as ActorSnapshots from "./ActorSnapshots.ts"
import * as ActorTraceOrigins from "./ActorTraceOrigins.ts"
import {
  assumedEmpty,
  type CommandError,
  type CommandResult,
  ConversationUnavailable,
  type StateCache,
  unavailable,
  write
} from "./ConversationWriter.ts"
import { DeliverySettings } from "./DeliverySettings.ts"
import { Draining } from "./Draining.ts"
import { KnownConversations } from "./KnownConversations.ts"
import { WorkIndex } from "./WorkIndex.ts"
import type * as WorkLoops from "./WorkLoops.ts"
import { nextWork } from "./WorkPlan.ts"

/**
 * One live conversation: its folded state in memory, its commands one at a time, and its work
 * loop. The loop asks the work plan (`WorkPlan.nextWork`) what is next and does it: the oldest open bot turn
 * (`ActorBotTurn`), then the head of the outbox, one attempt at a time (`ActorDelivery`), each
 * outcome recorded as an event before the next step; it sleeps until the next retry is due, and
 * ends when nothing is due within `passivateAfter` (after writing down in `conversation_work` when
 * to look again), so an idle conversation leaves memory.
 * Commands and the loop's own writes take the same lock, so the loop's attempt in flight never
 * holds up an inbound message: only the append is serialised, not the HTTP call.
 * While the installation's endpoint is paused, a delivery that comes due is held: the conversation
 * records `DeliveriesPaused` once and settles (the schedule leaves paused installations alone);
 * once the endpoint is resumed it records `DeliveriesResumed` and delivers the held messages in order.
 * Each piece of work runs in the trace of what caused it (`ActorTraceOrigins`).
 * Who keeps the actors is not decided here: `LocalActors` (a process alone) holds them in a map,
 * `EntityActors` (a runner of a cluster) in effect/cluster's entities.
 * Memory: the command path, the loop and their helpers are built once per process; each live
 * conversation holds only an `Actor` (below), so that thousands of idle live conversations cost
 * about a kilobyte each (docs/PERFORMANCE.md).
 */

/** Runs one command through the actor's command path (the loop's steps record their outcomes so). */
export type Execute = <C extends ConversationCommands.ConversationCommand>(
  command: C
) => Effect.Effect<CommandResult, CommandError<C>>

/**
 * What one live conversation keeps between messages; everything else (services, the loop, the
 * command path) is built once per process and handed the actor. The lock and the loop's wake-up
 * latch exist only while something uses them, and the trace origins only while work is open,
 * so an idle conversation holds this object and its decision state.
 */
export class Actor implements StateCache, ActorSnapshots.SnapshotMark {
  readonly conversationId: Ids.ConversationId
  readonly origins = new ActorTraceOrigins.TraceOrigins()
  /** The decision state between commands; `undefined`: read it from the log (snapshot + events). */
  current: ConversationStream.LoadedDecisionState | undefined = undefined
  snapshotVersion = 0
  /** The work loop runs (or is starting). */
  running = false
  /** A change committed since the loop last looked: what it settled on is already old. */
  changed = false
  /** Opened by a committed change: wakes the loop while it sleeps (exists only then). */
  wake: Latch.Latch | undefined = undefined
  /** Commands and the loop's own writes, one at a time; exists while some are waiting or running. */
  lock: Semaphore.Semaphore | undefined = undefined
  lockUsers = 0

  constructor(conversationId: Ids.ConversationId) {
    this.conversationId = conversationId
  }
}

/**
 * What the actors of this process do, built once per process and handed each conversation's
 * `Actor`; whoever keeps the actors (`LocalActors` in a process alone, `EntityActors` on a runner
 * of a cluster) calls these, and makes sure a conversation has one `Actor` at a time.
 */
export interface ActorCore {
  /**
   * One command from the front door, after the ones before it; one that changed something starts
   * the work loop through `WorkLoops` (the loop then runs `run`). A defect becomes
   * `ConversationUnavailable`.
   */
  readonly execute: <C extends ConversationCommands.ConversationCommand>(
    actor: Actor,
    command: C
  ) => Effect.Effect<CommandResult, CommandError<C>>
  /** The work loop, until nothing is due within `passivateAfter` (a no-op while it runs). */
  readonly run: (actor: Actor) => Effect.Effect<void>
  /** The state the actor holds, between two commands. */
  readonly inspect: (
    actor: Actor
  ) => Effect.Effect<ConversationStream.LoadedDecisionState, ConversationUnavailable>
}

/** The actors' command path and work loop; a command that changed something starts the loop through `loops`. */
export const make = Effect.fnUntraced(function* (loops: WorkLoops.WorkLoops["Service"]) {
  const store = yield* EventStore.EventStore
  const index = yield* WorkIndex
  const known = yield* KnownConversations
  const draining = yield* Draining
  const settings = yield* DeliverySettings
  const snapshots = yield* ActorSnapshots.make()
  const runTurn = yield* ActorBotTurn.make()
  const { deliver, endpointOf, pause, resume } = yield* ActorDelivery.make()
  const passivateAfter = Duration.toMillis(settings.passivateAfter)

  /** `effect` under the actor's lock; the lock is dropped once nobody waits for or holds it. */
  const locked = <A, E>(actor: Actor, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.uninterruptibleMask((restore) => {
      if (actor.lock === undefined) actor.lock = Semaphore.makeUnsafe(1)
      actor.lockUsers++
      return restore(actor.lock.withPermit(effect)).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            actor.lockUsers--
            if (actor.lockUsers === 0) actor.lock = undefined
          })
        )
      )
    })

  /**
   * The state a command is decided on: assumed empty for a conversation never started
   * (`KnownConversations`; the append checks it), else read from the snapshot and the log.
   */
  const loadState = (actor: Actor, options?: { readonly fromLog: boolean }) =>
    options?.fromLog !== true && !known.woken(actor.conversationId)
      ? Effect.succeed(assumedEmpty)
      : snapshots.load(actor)

  /** One command under the lock; a change is remembered with its trace origin, wakes the loop, then runs `andThen`. */
  const executeThen = <C extends ConversationCommands.ConversationCommand>(
    actor: Actor,
    command: C,
    andThen: Effect.Effect<void>
  ): Effect.Effect<CommandResult, CommandError<C>> =>
    locked(
      actor,
      write(store, actor.conversationId, command, actor, (_, options) => loadState(actor, options))
    ).pipe(
      Effect.tap((result) =>
        result.events.length === 0
          ? Effect.void
          : Effect.flatMap(traceOrigin, (origin) => {
              if (result.events[0]?._tag === "ConversationStarted") index.started(actor.conversationId)
              actor.origins.remember(result, origin)
              actor.changed = true
              actor.wake?.openUnsafe()
              return andThen
            })
      )
    )

  /** The state the actor holds; without the lock when nobody holds or waits for it (no lock exists then). */
  const current = (actor: Actor) =>
    Effect.suspend(() =>
      actor.current !== undefined && actor.lock === undefined
        ? Effect.succeed(actor.current)
        : locked(
            actor,
            Effect.suspend(() =>
              actor.current === undefined
                ? Effect.tap(snapshots.load(actor), (loaded) =>
                    Effect.sync(() => {
                      actor.current = loaded
                    })
                  )
                : Effect.succeed(actor.current)
            )
          )
    )

  const forget = (actor: Actor) =>
    locked(
      actor,
      Effect.sync(() => {
        actor.current = undefined
      })
    )

  /** Ends the loop unless something changed since it looked; atomic with `run`'s check. */
  const release = (actor: Actor) =>
    Effect.sync(() => {
      if (actor.changed) return false
      actor.running = false
      return true
    })

  /** Sleeps until `millis` have passed, a change is committed, or the process drains. */
  const sleep = (actor: Actor, millis: number) =>
    Effect.suspend(() => {
      if (actor.changed) return Effect.void
      const wake = Latch.makeUnsafe(false)
      actor.wake = wake
      return Effect.sleep(millis).pipe(
        Effect.raceFirst(wake.await),
        Effect.raceFirst(draining.started),
        Effect.ensuring(
          Effect.sync(() => {
            actor.wake = undefined
          })
        )
      )
    })

  /** Writes down what the loop knows (nothing to do, or when to look again); false when its state is stale. */
  const settle = (actor: Actor, loaded: ConversationStream.LoadedDecisionState, dueAt: string | null) => {
    const started = loaded.state.started
    return snapshots
      .saveIfDue(actor, loaded)
      .pipe(
        Effect.andThen(
          index.settle(
            actor.conversationId,
            loaded.version,
            started?.installationId ?? null,
            started === null ? null : dueAt
          )
        )
      )
  }

  const loop = (actor: Actor) =>
    Effect.gen(function* () {
      const conversationId = actor.conversationId
      /** The loop's own commands: the loop is already running. */
      const execute: Execute = (command) => executeThen(actor, command, Effect.void)
      while (!draining.isDraining()) {
        actor.changed = false
        const loaded = yield* current(actor)
        const endpoint = yield* endpointOf(loaded.state)
        const now = yield* Clock.currentTimeMillis
        const work = nextWork(loaded.state, now, endpoint.status === "paused")
        switch (work._tag) {
          case "Turn":
            yield* actor.origins.continuing(
              work.turn.userMessageId,
              runTurn(conversationId, execute, loaded.state, work.turn)
            )
            break
          case "Deliver":
            yield* actor.origins.continuing(
              work.message.messageId,
              deliver(conversationId, execute, loaded.state, work.message)
            )
            break
          case "Pause":
            yield* pause(execute, endpoint)
            break
          case "Resume":
            yield* resume(execute)
            break
          case "Held":
            // Sleep for a bot turn due soon; otherwise write down "due now", which the schedule
            // leaves alone until the endpoint is resumed.
            if (work.until !== null && work.until - now <= passivateAfter) {
              yield* sleep(actor, work.until - now)
            } else if (!(yield* settle(actor, loaded, Instant.ofMillis(now)))) {
              yield* forget(actor)
            } else if (yield* release(actor)) {
              return
            }
            break
          case "Wait":
            if (work.until - now <= passivateAfter) {
              yield* sleep(actor, work.until - now)
            } else if (!(yield* settle(actor, loaded, Instant.ofMillis(work.until)))) {
              yield* forget(actor)
            } else if (yield* release(actor)) {
              return
            }
            break
          case "Idle":
            if (!(yield* settle(actor, loaded, null))) {
              yield* forget(actor)
            } else if (yield* release(actor)) {
              return
            }
            break
        }
      }
      actor.running = false
    })

  const run = (actor: Actor) =>
    Effect.suspend(() => {
      if (actor.running) return Effect.void
      actor.running = true
      const conversationId = actor.conversationId
      return loop(actor).pipe(
        Effect.onExit((exit) =>
          Exit.isFailure(exit)
            ? Effect.sync(() => {
                actor.running = false
              })
            : Effect.void
        ),
        Effect.catchCause((cause) =>
          Effect.logWarning("conversation work loop stopped; the schedule will resume it", cause).pipe(
            Effect.annotateLogs({ conversationId })
          )
        ),
        hotSpan("ConversationActor.run", { attributes: { conversationId } })
      )
    })

  const actors: ActorCore = {
    // The front door's commands: one that changed something starts the loop here, where the
    // conversation lives; a running loop has already been woken by the change.
    execute: (actor, command) =>
      executeThen(
        actor,
        command,
        Effect.suspend(() => (actor.running ? Effect.void : loops.start(actor.conversationId)))
      ).pipe(
        Effect.catchDefect((defect) =>
          Effect.fail(new ConversationUnavailable({ message: `command failed: ${String(defect)}` }))
        )
      ),
    run,
    inspect: (actor) => Effect.mapError(current(actor), unavailable)
  }
  return actors
})
