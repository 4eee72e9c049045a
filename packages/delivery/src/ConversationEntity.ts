import { ConversationCommands, ConversationEvents, EventStore, Ids } from "@messaging-api/domain"
import type { DecisionState as State } from "@messaging-api/domain/DecisionState"
import { Effect, Layer, Schema } from "effect"
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

const OpenTurn = Schema.Struct({
  userMessageId: Ids.MessageId,
  userId: Ids.UserId,
  failures: Schema.Int,
  retryAt: Schema.NullOr(ConversationEvents.Instant),
  message: ConversationEvents.UserMessageReceived
})

const BotMessage = Schema.Struct({
  messageId: Ids.MessageId,
  inReplyTo: Schema.NullOr(Ids.MessageId),
  userId: Schema.NullOr(Ids.UserId),
  type: Schema.String,
  payload: Schema.Unknown,
  emittedAt: ConversationEvents.Instant,
  status: Schema.Literals(["pending", "delivered", "dead_lettered"]),
  attempts: Schema.Int,
  nextAttemptAt: Schema.NullOr(ConversationEvents.Instant),
  lastError: Schema.NullOr(Schema.String)
})

/** `DecisionState` on the wire (the annotation keeps the two in step). */
export const ConversationState: Schema.Codec<State, unknown> = Schema.Struct({
  started: Schema.NullOr(ConversationEvents.ConversationStarted),
  recentUserMessages: Schema.Array(
    Schema.Struct({
      externalMessageId: Schema.String,
      messageId: Ids.MessageId,
      userId: Ids.UserId,
      fingerprint: Schema.String
    })
  ),
  openTurns: Schema.Array(OpenTurn),
  outbox: Schema.Array(BotMessage),
  deadLetters: Schema.Array(BotMessage),
  delivered: Schema.Int,
  lastUserId: Schema.NullOr(Ids.UserId)
})

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
