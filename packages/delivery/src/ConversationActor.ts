import {
  type ConversationCommands,
  type ConversationStream,
  EventStore,
  type Ids
} from "@messaging-api/domain"
import { Clock, Duration, Effect, Exit, Latch, Semaphore, Tracer } from "effect"
import * as ActorBotTurn from "./ActorBotTurn.ts"
import * as ActorDelivery from "./ActorDelivery.ts"
import * as ActorSnapshots from "./ActorSnapshots.ts"
import * as ActorTraceOrigins from "./ActorTraceOrigins.ts"
import {
  type CommandError,
  type CommandResult,
  type ConversationUnavailable,
  type StateCache,
  unavailable,
  write
} from "./ConversationWriter.ts"
import { DeliverySettings } from "./DeliverySettings.ts"
import { Draining } from "./Draining.ts"
import { WorkIndex } from "./WorkIndex.ts"
import { nextWork } from "./WorkPlan.ts"

/**
 * One live conversation: its folded state in memory, its commands one at a time, and its work
 * loop. The loop asks the work plan (`WorkPlan.nextWork`) what is next and does it: the oldest open
 * bot turn (`ActorBotTurn`), then the head of the outbox, one attempt at a time (`ActorDelivery`),
 * each outcome recorded as an event before the next step; it sleeps until the next retry is due,
 * and ends when nothing is due within `passivateAfter` (after writing down in `conversation_work`
 * when to look again), so an idle conversation leaves memory.
 * Commands and the loop's own writes take the same lock, so the loop's attempt in flight never
 * holds up an inbound message: only the append is serialised, not the HTTP call.
 * While the installation's endpoint is paused, a delivery that comes due is held: the conversation
 * records `DeliveriesPaused` once and settles (the schedule leaves paused installations alone);
 * once the endpoint is resumed it records `DeliveriesResumed` and delivers the held messages in order.
 * Each piece of work runs in the trace of what caused it (`ActorTraceOrigins`).
 */

export interface ConversationActor {
  execute<C extends ConversationCommands.ConversationCommand>(
    command: C
  ): Effect.Effect<CommandResult, CommandError<C>>
  /** Runs the work loop unless it is already running; resolves when the loop ends. */
  readonly run: Effect.Effect<void>
  /** The state the actor holds (read from the log when it holds none), between commands. */
  readonly inspect: Effect.Effect<ConversationStream.LoadedDecisionState, ConversationUnavailable>
}

const iso = (millis: number) => new Date(millis).toISOString()

export const make = Effect.fnUntraced(function* (conversationId: Ids.ConversationId) {
  const store = yield* EventStore.EventStore
  const index = yield* WorkIndex
  const draining = yield* Draining
  const settings = yield* DeliverySettings
  const snapshots = yield* ActorSnapshots.make(conversationId)
  const origins = ActorTraceOrigins.make()

  const lock = Semaphore.makeUnsafe(1)
  const cache: StateCache = { current: undefined }

  // The loop closes `changed` as it looks at the state; a committed change opens it, which wakes a
  // sleeping loop and tells a settling one that what it settled on is already old.
  const changed = Latch.makeUnsafe(false)
  let running = false

  const execute = <C extends ConversationCommands.ConversationCommand>(
    command: C
  ): Effect.Effect<CommandResult, CommandError<C>> =>
    Effect.flatMap(Effect.serviceOption(Tracer.ParentSpan), (origin) =>
      lock.withPermit(write(store, conversationId, command, cache, snapshots.load)).pipe(
        Effect.tap((result) =>
          result.events.length > 0
            ? Effect.sync(() => {
                origins.remember(result, origin)
                changed.openUnsafe()
              })
            : Effect.void
        )
      )
    )

  const runTurn = yield* ActorBotTurn.make(conversationId, execute)
  const { deliver, endpointOf, pause, resume } = yield* ActorDelivery.make(conversationId, execute)

  const current = lock.withPermit(
    Effect.gen(function* () {
      if (cache.current === undefined) cache.current = yield* snapshots.load(conversationId)
      return cache.current
    })
  )

  const forget = lock.withPermit(
    Effect.sync(() => {
      cache.current = undefined
    })
  )

  /** Ends the loop unless something changed since it looked; atomic with `run`'s check. */
  const release = Effect.sync(() => {
    if (Latch.isOpen(changed)) return false
    running = false
    return true
  })

  const passivateAfter = Duration.toMillis(settings.passivateAfter)

  /** Writes down what the loop knows (nothing to do, or when to look again); false when its state is stale. */
  const settle = (loaded: ConversationStream.LoadedDecisionState, dueAt: string | null) => {
    const started = loaded.state.started
    return snapshots
      .saveIfDue(loaded)
      .pipe(
        Effect.andThen(
          index.settle(
            conversationId,
            loaded.version,
            started?.installationId ?? null,
            started === null ? null : dueAt
          )
        )
      )
  }

  const loop = Effect.gen(function* () {
    while (!draining.isDraining()) {
      changed.closeUnsafe()
      const loaded = yield* current
      const endpoint = yield* endpointOf(loaded.state)
      const now = yield* Clock.currentTimeMillis
      const work = nextWork(loaded.state, now, endpoint.status === "paused")
      switch (work._tag) {
        case "Turn":
          yield* origins.continuing(work.turn.userMessageId, runTurn(loaded.state, work.turn))
          break
        case "Deliver":
          yield* origins.continuing(work.message.messageId, deliver(loaded.state, work.message))
          break
        case "Pause":
          yield* pause(endpoint)
          break
        case "Resume":
          yield* resume
          break
        case "Held":
          // Sleep for a bot turn due soon; otherwise write down "due now", which the schedule
          // leaves alone until the endpoint is resumed.
          if (work.until !== null && work.until - now <= passivateAfter) {
            yield* Effect.sleep(work.until - now).pipe(
              Effect.raceFirst(changed.await),
              Effect.raceFirst(draining.started)
            )
          } else if (!(yield* settle(loaded, iso(now)))) {
            yield* forget
          } else if (yield* release) {
            return
          }
          break
        case "Wait":
          if (work.until - now <= passivateAfter) {
            yield* Effect.sleep(work.until - now).pipe(
              Effect.raceFirst(changed.await),
              Effect.raceFirst(draining.started)
            )
          } else if (!(yield* settle(loaded, iso(work.until)))) {
            yield* forget
          } else if (yield* release) {
            return
          }
          break
        case "Idle":
          if (!(yield* settle(loaded, null))) {
            yield* forget
          } else if (yield* release) {
            return
          }
          break
      }
    }
    running = false
  })

  const run = Effect.suspend(() => {
    if (running) return Effect.void
    running = true
    return loop.pipe(
      Effect.onExit((exit) =>
        Exit.isFailure(exit)
          ? Effect.sync(() => {
              running = false
            })
          : Effect.void
      ),
      Effect.catchCause((cause) =>
        Effect.logWarning("conversation work loop stopped; the schedule will resume it", cause).pipe(
          Effect.annotateLogs({ conversationId })
        )
      ),
      Effect.withSpan(
        "ConversationActor.run",
        { attributes: { conversationId } },
        { captureStackTrace: false }
      )
    )
  })

  const actor: ConversationActor = { execute, run, inspect: Effect.mapError(current, unavailable) }
  return actor
})
