import { Schema } from "effect"
import { PullDelivery } from "./ConversationEvents.ts"
import { ConversationId, ExternalId, InstallationId, MessageId, UserId } from "./Ids.ts"
import { InstallationScope } from "./InstallationScope.ts"
import { Instant } from "./Instant.ts"

/** What can be asked of one conversation. Every command carries its own time, so `decide` stays pure. */

export class ReceiveUserMessage extends Schema.TaggedClass<ReceiveUserMessage>()("ReceiveUserMessage", {
  conversationId: ConversationId,
  installationId: InstallationId,
  externalConversationId: ExternalId,
  messageId: MessageId,
  externalMessageId: ExternalId,
  userId: UserId,
  externalUserId: ExternalId,
  type: Schema.String,
  text: Schema.String,
  payload: Schema.Json,
  fingerprint: Schema.String,
  at: Instant,
  /** "pull" when the installation has no response endpoint (recorded when the conversation starts). */
  delivery: Schema.optionalKey(PullDelivery)
}) {}

export const OutgoingMessage = Schema.Struct({
  messageId: MessageId,
  type: Schema.String,
  payload: Schema.Json
})
export type OutgoingMessage = typeof OutgoingMessage.Type

export class CompleteBotTurn extends Schema.TaggedClass<CompleteBotTurn>()("CompleteBotTurn", {
  userMessageId: MessageId,
  messages: Schema.Array(OutgoingMessage),
  at: Instant
}) {}

export class FailBotTurn extends Schema.TaggedClass<FailBotTurn>()("FailBotTurn", {
  userMessageId: MessageId,
  reason: Schema.String,
  /** When to try the turn again; null gives up on it. */
  retryAt: Schema.NullOr(Instant),
  at: Instant
}) {}

export class PostBotMessage extends Schema.TaggedClass<PostBotMessage>()("PostBotMessage", {
  message: OutgoingMessage,
  /** When given, the conversation must belong to one of these installations (the poster's token's). */
  scope: Schema.optionalKey(InstallationScope),
  at: Instant
}) {}

/** What the deliverer reports of one attempt; the read model records it as a `ReadModels.AttemptResult`. */
export const AttemptOutcome = Schema.Union([
  Schema.TaggedStruct("Delivered", { status: Schema.Int }),
  Schema.TaggedStruct("Retry", {
    status: Schema.NullOr(Schema.Int),
    error: Schema.String,
    nextAttemptAt: Instant
  }),
  Schema.TaggedStruct("DeadLetter", { status: Schema.NullOr(Schema.Int), reason: Schema.String })
])
export type AttemptOutcome = typeof AttemptOutcome.Type

export class RecordDeliveryAttempt extends Schema.TaggedClass<RecordDeliveryAttempt>()(
  "RecordDeliveryAttempt",
  {
    messageId: MessageId,
    outcome: AttemptOutcome,
    durationMs: Schema.Finite,
    at: Instant
  }
) {}

export class RequestRedelivery extends Schema.TaggedClass<RequestRedelivery>()("RequestRedelivery", {
  messageId: MessageId,
  /** When given, the conversation must belong to one of these installations (the caller's token's). */
  scope: Schema.optionalKey(InstallationScope),
  at: Instant
}) {}

/** Hold this conversation's deliveries back: its installation's endpoint is paused. */
export class PauseDeliveries extends Schema.TaggedClass<PauseDeliveries>()("PauseDeliveries", {
  failingSince: Instant,
  endpointPausedAt: Instant,
  lastError: Schema.NullOr(Schema.String),
  at: Instant
}) {}

/** Send the held deliveries again: the endpoint is no longer paused. */
export class ResumeDeliveries extends Schema.TaggedClass<ResumeDeliveries>()("ResumeDeliveries", {
  at: Instant
}) {}

export const ConversationCommand = Schema.Union([
  ReceiveUserMessage,
  CompleteBotTurn,
  FailBotTurn,
  PostBotMessage,
  RecordDeliveryAttempt,
  RequestRedelivery,
  PauseDeliveries,
  ResumeDeliveries
]).pipe(Schema.toTaggedUnion("_tag"))
export type ConversationCommand = typeof ConversationCommand.Type

// Rejections. Each says why the command changes nothing.

export class DuplicateUserMessage extends Schema.TaggedError<DuplicateUserMessage>()("DuplicateUserMessage", {
  original: Schema.Struct({ messageId: MessageId, userId: UserId, conversationId: ConversationId })
}) {}

export class MessageIdReused extends Schema.TaggedError<MessageIdReused>()("MessageIdReused", {
  externalMessageId: Schema.String
}) {}

/** The conversation has not started, or not in the command's scope: either way, not the caller's to use. */
export class ConversationNotStarted extends Schema.TaggedError<ConversationNotStarted>()(
  "ConversationNotStarted",
  {}
) {}

export class UnknownBotMessage extends Schema.TaggedError<UnknownBotMessage>()("UnknownBotMessage", {
  messageId: Schema.String
}) {}

export class NotDeadLettered extends Schema.TaggedError<NotDeadLettered>()("NotDeadLettered", {
  messageId: Schema.String,
  status: Schema.String
}) {}

export type ConversationRejection =
  | DuplicateUserMessage
  | MessageIdReused
  | ConversationNotStarted
  | UnknownBotMessage
  | NotDeadLettered

/** What a command may be refused with (`never`: it is never refused, at most it changes nothing). */
export type RejectionOf<C extends ConversationCommand> = {
  readonly ReceiveUserMessage: DuplicateUserMessage | MessageIdReused
  readonly CompleteBotTurn: never
  readonly FailBotTurn: never
  readonly PostBotMessage: ConversationNotStarted
  readonly RecordDeliveryAttempt: never
  readonly RequestRedelivery: ConversationNotStarted | UnknownBotMessage | NotDeadLettered
  readonly PauseDeliveries: never
  readonly ResumeDeliveries: never
}[C["_tag"]]
