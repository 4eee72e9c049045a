import { Schema, SchemaGetter, Struct } from "effect"
import type { SqlClient } from "effect/sql"
import { DeliveryStatus } from "./DeliveryStatus.ts"
import { InstantFromDate } from "./Instant.ts"
import { ConversationSummary, Delivery, DeliveryAttempt, MessageRecord, TurnStatus } from "./ReadModels.ts"

/**
 * The read-model rows as the history reads them. Each query selects its columns under the names
 * of the API's record (the `…Columns` fragments), so each row Schema is the record's own fields
 * with its times read from `timestamptz` columns: one declaration per shape, and every row is
 * checked as it is decoded (`SqlSchema`). Rows are read-only: encoding one is refused.
 */

type Sql = SqlClient.SqlClient

const readOnly = <T, E>() =>
  SchemaGetter.forbidden<T, E>(() => "a read-model row is read, never written back")

/** rm_conversations, as a `ConversationSummary`. */
export const conversationColumns = (sql: Sql) => sql`
  conversation_id::text AS id, installation_id::text AS "installationId",
  external_conversation_id AS "externalConversationId", started_at AS "startedAt",
  last_activity_at AS "lastActivityAt", user_message_count AS "userMessageCount",
  bot_message_count AS "botMessageCount", open_turn_count AS "openTurnCount",
  pending_count AS "pendingCount", delivered_count AS "deliveredCount",
  dead_lettered_count AS "deadLetteredCount", version
`

export const ConversationRow = Schema.Struct({
  ...ConversationSummary.fields,
  startedAt: InstantFromDate,
  lastActivityAt: InstantFromDate
}).pipe(Schema.decodeTo(ConversationSummary))

/** The delivery columns of a bot row of rm_messages, as the API's `Delivery`. */
export const deliveryColumns = (sql: Sql) => sql`
  delivery_status AS status, attempts, last_status AS "lastStatus", last_error AS "lastError",
  next_attempt_at AS "nextAttemptAt", delivered_at AS "deliveredAt",
  dead_lettered_at AS "deadLetteredAt", redeliveries
`

/** The fields of `Delivery` as its columns hold them. */
export const DeliveryFields = {
  ...Delivery.fields,
  nextAttemptAt: Schema.NullOr(InstantFromDate),
  deliveredAt: Schema.NullOr(InstantFromDate),
  deadLetteredAt: Schema.NullOr(InstantFromDate)
}

/** rm_messages, as a `MessageRecord`: the turn columns of a user row, the delivery columns of a bot row. */
export const messageColumns = (sql: Sql) => sql`
  message_id::text AS id, conversation_id::text AS "conversationId",
  installation_id::text AS "installationId", direction, stream_version AS position,
  external_message_id AS "externalMessageId", user_id::text AS "userId",
  external_user_id AS "externalUserId", in_reply_to::text AS "inReplyTo", type, text, payload,
  created_at AS "createdAt", turn_status AS "turnStatus", turn_failures AS "turnFailures",
  ${deliveryColumns(sql)}
`

export const MessageRow = Schema.Struct({
  ...Struct.omit(MessageRecord.fields, ["turn", "delivery"]),
  createdAt: InstantFromDate,
  turnStatus: Schema.NullOr(TurnStatus),
  turnFailures: Schema.NullOr(Schema.Int),
  ...DeliveryFields,
  status: Schema.NullOr(DeliveryStatus)
}).pipe(
  Schema.decodeTo(MessageRecord, {
    decode: SchemaGetter.transform(
      ({
        turnStatus,
        turnFailures,
        status,
        attempts,
        lastStatus,
        lastError,
        nextAttemptAt,
        deliveredAt,
        deadLetteredAt,
        redeliveries,
        ...message
      }) => ({
        ...message,
        turn: turnStatus === null ? null : { status: turnStatus, failures: turnFailures ?? 0 },
        delivery:
          status === null
            ? null
            : {
                status,
                attempts,
                lastStatus,
                lastError,
                nextAttemptAt,
                deliveredAt,
                deadLetteredAt,
                redeliveries
              }
      })
    ),
    encode: readOnly()
  })
)

/** rm_delivery_attempts, as a `DeliveryAttempt`. */
export const attemptColumns = (sql: Sql) => sql`
  conversation_id::text AS "conversationId", message_id::text AS "messageId",
  stream_version AS position, attempt, outcome, status, error, duration_ms AS "durationMs",
  next_attempt_at AS "nextAttemptAt", at
`

export const AttemptRow = Schema.Struct({
  ...DeliveryAttempt.fields,
  nextAttemptAt: Schema.NullOr(InstantFromDate),
  at: InstantFromDate
}).pipe(Schema.decodeTo(DeliveryAttempt))
