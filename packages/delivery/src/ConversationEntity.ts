import {
  ConversationCommands,
  ConversationEvents,
  DecisionState,
  EventStore,
  type Ids
} from "@messaging-api/domain"
import { ConversationUnavailable } from "@messaging-api/domain/Conversations"
import * as Metrics from "@messaging-api/domain/Metrics"
import { Context, Effect, Layer, Metric, Schema } from "effect"
import { Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import * as ConversationActor from "./ConversationActor.ts"
import { DeliverySettings } from "./DeliverySettings.ts"
import * as WorkLoops from "./WorkLoops.ts"

/**
 * The conversation actor as an effect/cluster entity, keyed by conversation id. The cluster
 * runs one instance per live conversation, hands it its messages one at a time and passivates it
 * after `passivateAfter` without messages. Messages are volatile: the event log is the durable
 * record, and `conversation_work` brings a conversation back after a restart.
 * - `Execute`: one command (sequential); when it changed something, the runner starts the work loop.
 * - `Run`: the work loop (forked, so commands are served while it runs; while it runs the entity
 *   counts as busy and is not passivated).
 * - `Inspect`: the state the actor holds and its stream version, between two commands.
 */

export const CommandResult = Schema.Struct({
  events: Schema.Array(ConversationEvents.ConversationEvent),
  version: Schema.Int
})

export const CommandError = Schema.Union([
  ConversationCommands.DuplicateUserMessage,
  ConversationCommands.MessageIdReused,
  ConversationCommands.ConversationNotStarted,
  ConversationCommands.UnknownBotMessage,
  ConversationCommands.NotDeadLettered,
  EventStore.DuplicateEventId,
  ConversationUnavailable
])

export const Execute = Rpc.make("Execute", {
  payload: { command: ConversationCommands.ConversationCommand },
  success: CommandResult,
  error: CommandError
})

export const Run = Rpc.make("Run")

/** The actor's `DecisionState` on the wire. */
export const ConversationState = DecisionState.DecisionStateSchema

export const Inspect = Rpc.make("Inspect", {
  success: Schema.Struct({ state: ConversationState, version: Schema.Int }),
  error: ConversationUnavailable
})

export const Conversation = Entity.make("Conversation", [Execute, Run, Inspect])

/**
 * The entity's behaviour on this runner, and the work loops it starts (`WorkLoops`): a command
 * that changed something starts the conversation's loop here, where the conversation lives, so
 * 200 for a message on any process means its bot turn and deliveries run on the owner.
 */
export const layer = Layer.effectContext(
  Effect.gen(function* () {
    const settings = yield* DeliverySettings
    const clientFor = yield* Conversation.client
    const { loops, drain } = yield* WorkLoops.make((conversationId) => clientFor(conversationId).Run())
    const entity = yield* Layer.build(
      Conversation.toLayer(
        Effect.gen(function* () {
          const address = yield* Entity.CurrentAddress
          const conversationId = address.entityId as string as Ids.ConversationId
          const actor = yield* ConversationActor.make(conversationId)
          yield* Effect.acquireRelease(Metric.modify(Metrics.liveConversations, 1), () =>
            Metric.modify(Metrics.liveConversations, -1)
          )
          return Conversation.of({
            Execute: ({ payload }) =>
              actor.execute(payload.command).pipe(
                Effect.tap((result) =>
                  result.events.length > 0 ? loops.start(conversationId) : Effect.void
                ),
                Effect.catchDefect((defect) =>
                  Effect.fail(new ConversationUnavailable({ message: `command failed: ${String(defect)}` }))
                )
              ),
            Run: () => Rpc.fork(actor.run),
            Inspect: () => actor.inspect
          })
        }),
        { maxIdleTime: settings.passivateAfter }
      )
    )
    // Added after the entity, so on close the loops drain before the entity is stopped.
    yield* Effect.addFinalizer(() => drain)
    return Context.add(entity, WorkLoops.WorkLoops, loops)
  })
)
