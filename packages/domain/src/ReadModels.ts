import { Schema } from "effect"
import { DeliveryStatus } from "./DeliveryStatus.ts"
import type { RecordedEvent } from "./EventStore.ts"
import { ConversationId, InstallationId, MessageId, UserId } from "./Ids.ts"
import type { InstallationScope } from "./InstallationScope.ts"

/**
 * The read models as the read service hands them out: conversations, their messages (user and
 * bot, with the bot turn or the delivery), delivery attempts and raw events. Each is one Schema,
 * usable as an HTTP success schema as it is. Times are ISO-8601 strings.
 */

export const TurnStatus = Schema.Literals(["open", "completed", "failed"])
export type TurnStatus = typeof TurnStatus.Type

/**
 * What a recorded delivery attempt came to, as the history shows it ("failed": retried later).
 * Not the deliverer's report (`ConversationCommands.AttemptOutcome`), from which it is recorded.
 */
export const AttemptResult = Schema.Literals(["delivered", "failed", "dead_lettered"])
export type AttemptResult = typeof AttemptResult.Type

export class ConversationSummary extends Schema.Class<ConversationSummary>("ConversationSummary")({
  /** Our id: the `botpressConversationId` of the wire contract. */
  id: ConversationId,
  installationId: InstallationId,
  /** The application's conversation id. */
  externalConversationId: Schema.String,
  startedAt: Schema.String,
  lastActivityAt: Schema.String,
  userMessageCount: Schema.Int,
  botMessageCount: Schema.Int,
  /** User messages the bot has not finished answering. */
  openTurnCount: Schema.Int,
  pendingCount: Schema.Int,
  deliveredCount: Schema.Int,
  deadLetteredCount: Schema.Int,
  /** The stream version the summary reflects. */
  version: Schema.Int
}) {}

/** A user message's bot turn. */
export const BotTurn = Schema.Struct({
  status: TurnStatus,
  failures: Schema.Int
})
export type BotTurn = typeof BotTurn.Type

/** A bot message's delivery to the application's endpoint. */
export const Delivery = Schema.Struct({
  status: DeliveryStatus,
  /** Attempts since the message was emitted or last redelivered. */
  attempts: Schema.Int,
  lastStatus: Schema.NullOr(Schema.Int),
  lastError: Schema.NullOr(Schema.String),
  nextAttemptAt: Schema.NullOr(Schema.String),
  deliveredAt: Schema.NullOr(Schema.String),
  deadLetteredAt: Schema.NullOr(Schema.String),
  redeliveries: Schema.Int
})
export type Delivery = typeof Delivery.Type

export class MessageRecord extends Schema.Class<MessageRecord>("Message")({
  /** Our id: the `botpressMessageId` of the wire contract. */
  id: MessageId,
  conversationId: ConversationId,
  installationId: InstallationId,
  direction: Schema.Literals(["user", "bot"]),
  /** The version of the event that created the message: its place in the conversation. */
  position: Schema.Int,
  /** The application's messageId (user messages). */
  externalMessageId: Schema.NullOr(Schema.String),
  /** The author of a user message, the addressee of a bot message. */
  userId: Schema.NullOr(UserId),
  externalUserId: Schema.NullOr(Schema.String),
  /** The user message whose turn produced a bot message. */
  inReplyTo: Schema.NullOr(MessageId),
  type: Schema.String,
  text: Schema.NullOr(Schema.String),
  payload: Schema.Json,
  createdAt: Schema.String,
  /** User messages only. */
  turn: Schema.NullOr(BotTurn),
  /** Bot messages only. */
  delivery: Schema.NullOr(Delivery)
}) {}

export class DeliveryAttempt extends Schema.Class<DeliveryAttempt>("DeliveryAttempt")({
  conversationId: ConversationId,
  messageId: MessageId,
  /** The stream version of the event that recorded the attempt. */
  position: Schema.Int,
  attempt: Schema.Int,
  outcome: AttemptResult,
  /** The HTTP status the endpoint answered, null when there was no answer. */
  status: Schema.NullOr(Schema.Int),
  error: Schema.NullOr(Schema.String),
  durationMs: Schema.Finite,
  nextAttemptAt: Schema.NullOr(Schema.String),
  at: Schema.String
}) {}

/** One event of a conversation's stream, as stored. */
export class StoredEvent extends Schema.Class<StoredEvent>("StoredEvent")({
  eventId: Schema.String,
  version: Schema.Int,
  /** The event's position in the global log. */
  position: Schema.Int,
  type: Schema.String,
  data: Schema.Json,
  metadata: Schema.Json,
  recordedAt: Schema.String
}) {
  /** A recorded event as the API shows it. */
  static fromRecorded(event: RecordedEvent): StoredEvent {
    return decodeStoredEvent({
      eventId: event.eventId,
      version: event.version,
      position: event.position,
      type: event.type,
      data: event.data,
      metadata: event.metadata,
      recordedAt: event.recordedAt.toISOString()
    })
  }
}
const decodeStoredEvent = Schema.decodeUnknownSync(StoredEvent)

/** One page of a list; pass `nextCursor` back to get the next one (null: this was the last). */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly nextCursor: string | null
}

export const Page = <S extends Schema.Top>(item: S) =>
  Schema.Struct({ items: Schema.Array(item), nextCursor: Schema.NullOr(Schema.String) })

export interface PageOptions {
  /** The installations the reader may see. */
  readonly installationIds: InstallationScope
  /** The `nextCursor` of the previous page; absent for the first page. */
  readonly cursor?: string | undefined
  /** Items per page: 1 to `maxPageSize`, `defaultPageSize` when absent. */
  readonly limit?: number | undefined
}

export const defaultPageSize = 50
export const maxPageSize = 200

/** A cursor that this list did not hand out (garbled, from another list, or tampered with). */
export class InvalidCursor extends Schema.TaggedError<InvalidCursor>()("InvalidCursor", {
  message: Schema.String
}) {}

/** No such conversation, or one in an installation the reader may not see: the two look the same. */
export class ConversationNotFound extends Schema.TaggedError<ConversationNotFound>()("ConversationNotFound", {
  conversationId: Schema.String
}) {}

/** No such message in the conversation, or one the reader may not see. */
export class MessageNotFound extends Schema.TaggedError<MessageNotFound>()("MessageNotFound", {
  messageId: Schema.String
}) {}
