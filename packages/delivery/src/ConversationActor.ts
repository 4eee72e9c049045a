import {
  type ConversationCommands,
  type ConversationStream,
  EventStore,
  type Ids,
  Instant
} from "@messaging-api/domain"
import * as Metrics from "@messaging-api/domain/Metrics"
import { Clock, Context, Duration, Effect, Exit, Latch, Layer, Metric, Semaphore, Tracer } from "effect"
import { Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import * as ActorBotTurn from "./ActorBotTurn.ts"
import * as ActorDelivery from "./ActorDelivery.ts"
import * as ActorSnapshots from "./ActorSnapshots.ts"
import * as ActorTraceOrigins from "./ActorTraceOrigins.ts"
import { Conversation } from "./ConversationEntity.ts"
import {
  type CommandError,
  type CommandResult,
  ConversationUnavailable,
  type StateCache,
  unavailable,
  write
} from "./ConversationWriter.ts"
import { DeliverySettings } from "./DeliverySettings.ts"
import { Draining } from "./Draining.ts"
import { WorkIndex } from "./WorkIndex.ts"
import * as WorkLoops from "./WorkLoops.ts"
import { nextWork } from "./WorkPlan.ts"

/**
 * One live conversation: the handlers of its entity (`ConversationEntity`: effect/cluster calls
 * them), its folded state in memory, its commands one at a time, and its work loop. The loop asks
 * the work plan (`WorkPlan.nextWork`) what is next and does it: the oldest open bot turn
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
 */

/** Runs one command through the actor's command path (the loop's steps record their outcomes so). */
export type Execute = <C extends ConversationCommands.ConversationCommand>(
  command: C
) => Effect.Effect<CommandResult, CommandError<C>>

/**
 * The handlers of the conversation entity at `Entity.CurrentAddress`: built when the cluster
 * activates it, released when it passivates. A command that changed something starts the work
 * loop through `loops`.
 */
export const make = Effect.fnUntraced(function* (loops: WorkLoops.WorkLoops["Service"]) {
  const address = yield* Entity.CurrentAddress
  // Entity ids are our decoded (lower-case) uuids: one conversation, one entity (and one shard).
  const conversationId = address.entityId as string as Ids.ConversationId
  const store = yield* EventStore.EventStore
  const index = yield* WorkIndex
  const draining = yield* Draining
  const settings = yield* DeliverySettings
  const snapshots = yield* ActorSnapshots.make(conversationId)
  const origins = ActorTraceOrigins.make()
  yield* Effect.acquireRelease(Metric.modify(Metrics.liveConversations, 1), () =>
    Metric.modify(Metrics.liveConversations, -1)
  )

  const lock = Semaphore.makeUnsafe(1)
  const cache: StateCache = { current: undefined }

  // The loop closes `changed` as it looks at the state; a committed change opens it, which wakes a
  // sleeping loop and tells a settling one that what it settled on is already old.
  const changed = Latch.makeUnsafe(false)
  let running = false

  /** One command under the lock; a change is remembered with its trace origin, wakes the loop, then runs `andThen`. */
  const executeThen = <C extends ConversationCommands.ConversationCommand>(
    command: C,
    andThen: Effect.Effect<void>
  ): Effect.Effect<CommandResult, CommandError<C>> =>
    Effect.flatMap(Effect.serviceOption(Tracer.ParentSpan), (origin) =>
      lock.withPermit(write(store, conversationId, command, cache, snapshots.load)).pipe(
        Effect.tap((result) => {
          if (result.events.length === 0) return Effect.void
          origins.remember(result, origin)
          changed.openUnsafe()
          return andThen
        })
      )
    )

  /** The loop's own commands: the loop is already running. */
  const execute: Execute = (command) => executeThen(command, Effect.void)

  /** The front door's commands: one that changed something starts the loop here, where the conversation lives. */
  const startLoop = loops.start(conversationId)

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
          } else if (!(yield* settle(loaded, Instant.ofMillis(now)))) {
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
          } else if (!(yield* settle(loaded, Instant.ofMillis(work.until)))) {
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

  return Conversation.of({
    Execute: ({ payload }) =>
      executeThen(payload.command, startLoop).pipe(
        Effect.catchDefect((defect) =>
          Effect.fail(new ConversationUnavailable({ message: `command failed: ${String(defect)}` }))
        )
      ),
    Run: () => Rpc.fork(run),
    Inspect: () => Effect.mapError(current, unavailable)
  })
})

/**
 * The conversation entity on this runner, and the work loops it starts (`WorkLoops`): a command
 * that changed something starts the conversation's loop here, where the conversation lives, so
 * 200 for a message on any process means its bot turn and deliveries run on the owner.
 */
export const layer = Layer.effectContext(
  Effect.gen(function* () {
    const settings = yield* DeliverySettings
    const clientFor = yield* Conversation.client
    const { loops, drain } = yield* WorkLoops.make((conversationId) => clientFor(conversationId).Run())
    const entity = yield* Layer.build(
      Conversation.toLayer(make(loops), { maxIdleTime: settings.passivateAfter })
    )
    // Added after the entity, so on close the loops drain before the entity is stopped.
    yield* Effect.addFinalizer(() => drain)
    return Context.add(entity, WorkLoops.WorkLoops, loops)
  })
)
