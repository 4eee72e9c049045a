import {
  ConversationCommands,
  ConversationEvents,
  DecisionState,
  EventStore,
  type Ids
} from "@messaging-api/domain"
import * as Metrics from "@messaging-api/domain/Metrics"
import { Effect, Layer, Metric, Schema } from "effect"
import { Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import * as ConversationActor from "./ConversationActor.ts"
import { ConversationUnavailable } from "./ConversationWriter.ts"
import { DeliverySettings } from "./DeliverySettings.ts"

/**
 * The conversation actor as an effect/cluster entity, keyed by conversation id. The cluster
 * runs one instance per live conversation, hands it its messages one at a time and passivates it
 * after `passivateAfter` without messages. Messages are volatile: the event log is the durable
 * record, and `conversation_work` brings a conversation back after a restart.
 * - `Execute`: one command (sequential).
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

export const layer = Layer.unwrap(
  Effect.gen(function* () {
    const settings = yield* DeliverySettings
    return Conversation.toLayer(
      Effect.gen(function* () {
        const address = yield* Entity.CurrentAddress
        const actor = yield* ConversationActor.make(address.entityId as string as Ids.ConversationId)
        yield* Effect.acquireRelease(Metric.modify(Metrics.liveConversations, 1), () =>
          Metric.modify(Metrics.liveConversations, -1)
        )
        return Conversation.of({
          Execute: ({ payload }) =>
            actor
              .execute(payload.command)
              .pipe(
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
  })
)
