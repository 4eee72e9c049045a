import { Schema } from "effect"
import { ConversationId, ExternalId, InstallationId, MessageId, UserId } from "./Ids.ts"
import { LoggedInstant } from "./Instant.ts"

/**
 * The events of one conversation stream. Each is a Schema tagged class: the `_tag` is the
 * event type stored in the log, the other fields are its `data`.
 */

/**
 * How a pull-only conversation's bot messages reach the application: they are read (the webhook's
 * answer, the history API, the live streams), never POSTed, so they never enter the outbox.
 */
export const PullDelivery = Schema.Literal("pull")

export class ConversationStarted extends Schema.TaggedClass<ConversationStarted>()("ConversationStarted", {
  conversationId: ConversationId,
  installationId: InstallationId,
  externalConversationId: ExternalId,
  startedAt: LoggedInstant,
  /** "pull": the installation has no response endpoint, so its bot messages are never delivered. */
  delivery: Schema.optionalKey(PullDelivery)
}) {}

export class UserMessageReceived extends Schema.TaggedClass<UserMessageReceived>()("UserMessageReceived", {
  messageId: MessageId,
  externalMessageId: ExternalId,
  userId: UserId,
  externalUserId: ExternalId,
  type: Schema.String,
  text: Schema.String,
  payload: Schema.Json,
  /** SHA-256 of the request body's fields: a repeat with another body is a conflict. */
  fingerprint: Schema.String,
  receivedAt: LoggedInstant
}) {}

export class BotMessageEmitted extends Schema.TaggedClass<BotMessageEmitted>()("BotMessageEmitted", {
  messageId: MessageId,
  /** The user message whose turn produced it, absent for messages the bot posted on its own. */
  inReplyTo: Schema.NullOr(MessageId),
  type: Schema.String,
  payload: Schema.Json,
  emittedAt: LoggedInstant,
  /** "pull": emitted in a pull-only conversation, so not delivered (no attempts, no outbox). */
  delivery: Schema.optionalKey(PullDelivery)
}) {}

/** The bot answered one user message; its messages (zero or more) were emitted just before. */
export class BotTurnCompleted extends Schema.TaggedClass<BotTurnCompleted>()("BotTurnCompleted", {
  userMessageId: MessageId,
  messageCount: Schema.Int,
  completedAt: LoggedInstant
}) {}

export class BotTurnFailed extends Schema.TaggedClass<BotTurnFailed>()("BotTurnFailed", {
  userMessageId: MessageId,
  attempt: Schema.Int,
  reason: Schema.String,
  /** When the turn is tried again; null when the policy gave up. */
  retryAt: Schema.NullOr(LoggedInstant),
  failedAt: LoggedInstant
}) {}

export class DeliveryAttemptFailed extends Schema.TaggedClass<DeliveryAttemptFailed>()(
  "DeliveryAttemptFailed",
  {
    messageId: MessageId,
    attempt: Schema.Int,
    status: Schema.NullOr(Schema.Int),
    error: Schema.String,
    durationMs: Schema.Finite,
    nextAttemptAt: LoggedInstant,
    failedAt: LoggedInstant
  }
) {}

export class MessageDelivered extends Schema.TaggedClass<MessageDelivered>()("MessageDelivered", {
  messageId: MessageId,
  attempt: Schema.Int,
  status: Schema.Int,
  durationMs: Schema.Finite,
  deliveredAt: LoggedInstant
}) {}

export class MessageDeadLettered extends Schema.TaggedClass<MessageDeadLettered>()("MessageDeadLettered", {
  messageId: MessageId,
  attempt: Schema.Int,
  status: Schema.NullOr(Schema.Int),
  reason: Schema.String,
  deadLetteredAt: LoggedInstant
}) {}

export class RedeliveryRequested extends Schema.TaggedClass<RedeliveryRequested>()("RedeliveryRequested", {
  messageId: MessageId,
  requestedAt: LoggedInstant
}) {}

/**
 * The installation's response endpoint had failed continuously for longer than the pause bound
 * (`ENDPOINT_PAUSE_AFTER`), so this conversation holds its pending deliveries back (they stay
 * pending, in order, their retry schedule untouched) until an operator resumes the endpoint.
 * Recorded once per pause by every conversation that has a delivery to hold back.
 */
export class DeliveriesPaused extends Schema.TaggedClass<DeliveriesPaused>()("DeliveriesPaused", {
  installationId: InstallationId,
  /** The first failed attempt after the endpoint's last success. */
  failingSince: LoggedInstant,
  /** When the endpoint was paused (the same for every conversation of the pause). */
  endpointPausedAt: LoggedInstant,
  lastError: Schema.NullOr(Schema.String),
  pausedAt: LoggedInstant
}) {}

/** The endpoint was resumed: this conversation's held deliveries go out again, the head at once. */
export class DeliveriesResumed extends Schema.TaggedClass<DeliveriesResumed>()("DeliveriesResumed", {
  resumedAt: LoggedInstant
}) {}

export const ConversationEvent = Schema.Union([
  ConversationStarted,
  UserMessageReceived,
  BotMessageEmitted,
  BotTurnCompleted,
  BotTurnFailed,
  DeliveryAttemptFailed,
  MessageDelivered,
  MessageDeadLettered,
  RedeliveryRequested,
  DeliveriesPaused,
  DeliveriesResumed
]).pipe(Schema.toTaggedUnion("_tag"))
export type ConversationEvent = typeof ConversationEvent.Type
export type ConversationEventType = ConversationEvent["_tag"]
