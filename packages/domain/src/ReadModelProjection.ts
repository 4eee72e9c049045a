import { Effect, Predicate, Schema, Stream } from "effect"
import type { SqlClient, SqlError, Statement } from "effect/sql"
import type { ConversationEvent } from "./ConversationEvents.ts"
import { fromRecorded } from "./ConversationStream.ts"
import type { EventStore, RecordedEvent } from "./EventStore.ts"
import { Uuid } from "./Ids.ts"
import { occurredAt } from "./Timeline.ts"

/**
 * How a conversation's events change the read-model rows (rm_conversations, rm_messages,
 * rm_delivery_attempts). A conversation is always brought forward in stream order from the version
 * its row records, whatever order the global log delivered its events in, so the rows are a
 * function of the stream alone: following the log live and rebuilding from scratch give the same
 * rows. Callers run this inside the batch's transaction.
 */

export const streamPrefix = "conversation-"

const isUuid = Schema.is(Uuid)

/** The conversation id of a stream, when the stream is a conversation's. */
export const conversationOfStream = (streamId: string): string | undefined => {
  if (!streamId.startsWith(streamPrefix)) return undefined
  const id = streamId.slice(streamPrefix.length)
  return isUuid(id) ? id : undefined
}

/** An event's time as an ISO instant; the log's time when the event's own is not a time. */
const timeOf = (event: ConversationEvent, recorded: RecordedEvent): string => {
  const own = Date.parse(occurredAt(event))
  return Number.isNaN(own) ? recorded.recordedAt.toISOString() : new Date(own).toISOString()
}

const instantOrNull = (value: string | null): string | null => {
  if (value === null) return null
  const time = Date.parse(value)
  return Number.isNaN(time) ? null : new Date(time).toISOString()
}

const textOf = (payload: unknown): string | null =>
  Predicate.isObject(payload) && "text" in payload && Predicate.isString(payload.text) ? payload.text : null

interface ConversationRow {
  readonly installation_id: string
  readonly version: number
}

/**
 * Brings one conversation's rows up to `upTo` (a version the log has shown). `known` holds the
 * events of this stream the caller already has; missing ones are read from the stream.
 */
export const projectConversation = Effect.fnUntraced(function* (
  sql: SqlClient.SqlClient,
  store: EventStore["Service"],
  conversationId: string,
  upTo: number,
  known: ReadonlyArray<RecordedEvent>
) {
  const rows = yield* sql<ConversationRow>`
    SELECT installation_id::text AS installation_id, version FROM rm_conversations
    WHERE conversation_id = ${conversationId}::uuid FOR UPDATE
  `
  const from = (rows[0]?.version ?? 0) + 1
  if (from > upTo) return
  const pending = known.filter((event) => event.version >= from && event.version <= upTo)
  pending.sort((a, b) => a.version - b.version)
  const contiguous =
    pending.length === upTo - from + 1 && pending.every((event, i) => event.version === from + i)
  const events = contiguous
    ? pending
    : yield* store.readStream(`${streamPrefix}${conversationId}`, from).pipe(
        Stream.takeWhile((event) => event.version <= upTo),
        Stream.runCollect
      )

  let installationId = rows[0]?.installation_id
  let lastActivity: string | undefined
  let applied = rows[0]?.version
  for (const recorded of events) {
    const decoded = yield* fromRecorded(recorded).pipe(Effect.result)
    if (decoded._tag === "Failure") {
      yield* Effect.logWarning("read models: skipping an event they cannot decode", decoded.failure)
    } else if (decoded.success._tag === "ConversationStarted") {
      installationId ??= decoded.success.installationId
      yield* apply(sql, conversationId, decoded.success.installationId, recorded, decoded.success)
    } else if (installationId === undefined) {
      yield* Effect.logWarning("read models: skipping an event of a conversation that has not started", {
        streamId: recorded.streamId,
        version: recorded.version,
        type: recorded.type
      })
      continue
    } else {
      yield* apply(sql, conversationId, installationId, recorded, decoded.success)
    }
    if (installationId !== undefined) {
      applied = recorded.version
      if (decoded._tag === "Success") {
        const time = timeOf(decoded.success, recorded)
        if (lastActivity === undefined || time > lastActivity) lastActivity = time
      }
    }
  }
  if (installationId === undefined || applied === undefined) return
  yield* sql`
    UPDATE rm_conversations c SET
      version = ${applied},
      last_activity_at = GREATEST(c.last_activity_at, coalesce(${lastActivity ?? null}::timestamptz, c.last_activity_at)),
      user_message_count = counts.user_messages,
      bot_message_count = counts.bot_messages,
      open_turn_count = counts.open_turns,
      pending_count = counts.pending,
      delivered_count = counts.delivered,
      dead_lettered_count = counts.dead_lettered
    FROM (
      SELECT
        count(*) FILTER (WHERE direction = 'user')::int AS user_messages,
        count(*) FILTER (WHERE direction = 'bot')::int AS bot_messages,
        count(*) FILTER (WHERE turn_status = 'open')::int AS open_turns,
        count(*) FILTER (WHERE delivery_status = 'pending')::int AS pending,
        count(*) FILTER (WHERE delivery_status = 'delivered')::int AS delivered,
        count(*) FILTER (WHERE delivery_status = 'dead_lettered')::int AS dead_lettered
      FROM rm_messages WHERE conversation_id = ${conversationId}::uuid
    ) counts
    WHERE c.conversation_id = ${conversationId}::uuid
  `
})

/** The row changes of one event. Each statement is keyed by ids, so applying twice changes nothing more. */
const apply = (
  sql: SqlClient.SqlClient,
  conversationId: string,
  installationId: string,
  recorded: RecordedEvent,
  event: ConversationEvent
): Effect.Effect<void, SqlError.SqlError> => {
  const version = recorded.version
  const at = timeOf(event, recorded)
  /** Changes one message of this conversation, once: the row remembers the last event applied to it. */
  const message = (messageId: string, direction: "user" | "bot", changes: Statement.Fragment) =>
    sql`
      UPDATE rm_messages SET ${changes}, version = ${version}
      WHERE message_id = ${messageId}::uuid AND conversation_id = ${conversationId}::uuid
        AND direction = ${direction} AND version < ${version}
        ${direction === "user" ? sql`AND turn_status = 'open'` : sql``}
    `.pipe(Effect.asVoid)
  switch (event._tag) {
    case "ConversationStarted":
      return sql`
        INSERT INTO rm_conversations
          (conversation_id, installation_id, external_conversation_id, started_at, last_activity_at, version)
        VALUES (${conversationId}::uuid, ${event.installationId}::uuid, ${event.externalConversationId},
                ${at}::timestamptz, ${at}::timestamptz, ${version})
        ON CONFLICT (conversation_id) DO NOTHING
      `.pipe(Effect.asVoid)
    case "UserMessageReceived":
      return Effect.all([
        sql`
          INSERT INTO rm_messages
            (message_id, conversation_id, installation_id, stream_version, direction, external_message_id,
             user_id, external_user_id, type, text, payload, created_at, turn_status, turn_failures, version)
          VALUES (${event.messageId}::uuid, ${conversationId}::uuid, ${installationId}::uuid, ${version}, 'user',
                  ${event.externalMessageId}, ${event.userId}::uuid, ${event.externalUserId}, ${event.type},
                  ${event.text}, ${JSON.stringify(event.payload)}::jsonb, ${at}::timestamptz, 'open', 0, ${version})
          ON CONFLICT (message_id) DO NOTHING
        `,
        // Only the latest user message names the last user, whatever order it is applied in.
        sql`
          UPDATE rm_conversations SET last_user_id = ${event.userId}::uuid
          WHERE conversation_id = ${conversationId}::uuid AND NOT EXISTS (
            SELECT 1 FROM rm_messages WHERE conversation_id = ${conversationId}::uuid AND direction = 'user'
              AND stream_version > ${version}
          )
        `
      ]).pipe(Effect.asVoid)
    case "BotMessageEmitted":
      // Addressed like Conversation.evolve does: the user of the open turn it answers, else the last user.
      return sql`
        INSERT INTO rm_messages
          (message_id, conversation_id, installation_id, stream_version, direction, user_id, in_reply_to,
           type, text, payload, created_at, delivery_status, version)
        SELECT ${event.messageId}::uuid, ${conversationId}::uuid, ${installationId}::uuid, ${version}, 'bot',
               coalesce(
                 (SELECT user_id FROM rm_messages
                  WHERE message_id = ${event.inReplyTo}::uuid AND conversation_id = ${conversationId}::uuid
                    AND direction = 'user' AND turn_status = 'open'),
                 (SELECT last_user_id FROM rm_conversations WHERE conversation_id = ${conversationId}::uuid)
               ),
               ${event.inReplyTo}::uuid, ${event.type}, ${textOf(event.payload)},
               ${JSON.stringify(event.payload)}::jsonb, ${at}::timestamptz, 'pending', ${version}
        ON CONFLICT (message_id) DO NOTHING
      `.pipe(Effect.asVoid)
    case "BotTurnCompleted":
      return message(event.userMessageId, "user", sql`turn_status = 'completed'`)
    case "BotTurnFailed":
      return message(
        event.userMessageId,
        "user",
        sql`turn_failures = ${event.attempt}, turn_status = ${event.retryAt === null ? "failed" : "open"}`
      )
    case "DeliveryAttemptFailed":
      return Effect.all([
        insertAttempt(sql, conversationId, installationId, version, {
          messageId: event.messageId,
          attempt: event.attempt,
          outcome: "failed",
          status: event.status,
          error: event.error,
          durationMs: event.durationMs,
          nextAttemptAt: instantOrNull(event.nextAttemptAt),
          at
        }),
        message(
          event.messageId,
          "bot",
          sql`attempts = ${event.attempt}, last_status = ${event.status}, last_error = ${event.error},
              next_attempt_at = ${instantOrNull(event.nextAttemptAt)}::timestamptz`
        )
      ]).pipe(Effect.asVoid)
    case "MessageDelivered":
      return Effect.all([
        insertAttempt(sql, conversationId, installationId, version, {
          messageId: event.messageId,
          attempt: event.attempt,
          outcome: "delivered",
          status: event.status,
          error: null,
          durationMs: event.durationMs,
          nextAttemptAt: null,
          at
        }),
        message(
          event.messageId,
          "bot",
          sql`delivery_status = 'delivered', attempts = ${event.attempt}, last_status = ${event.status},
              last_error = NULL, next_attempt_at = NULL, delivered_at = ${at}::timestamptz`
        )
      ]).pipe(Effect.asVoid)
    case "MessageDeadLettered":
      return Effect.all([
        // The attempt that gave up was recorded just before: it is the one that dead-lettered.
        sql`
          UPDATE rm_delivery_attempts SET outcome = 'dead_lettered'
          WHERE conversation_id = ${conversationId}::uuid AND attempt = ${event.attempt} AND outcome = 'failed'
            AND stream_version = (
              SELECT max(stream_version) FROM rm_delivery_attempts
              WHERE conversation_id = ${conversationId}::uuid AND message_id = ${event.messageId}::uuid
                AND stream_version < ${version}
            )
        `,
        message(
          event.messageId,
          "bot",
          sql`delivery_status = 'dead_lettered', attempts = ${event.attempt}, last_status = ${event.status},
              last_error = ${event.reason}, next_attempt_at = NULL, dead_lettered_at = ${at}::timestamptz`
        )
      ]).pipe(Effect.asVoid)
    case "RedeliveryRequested":
      return message(
        event.messageId,
        "bot",
        sql`delivery_status = 'pending', attempts = 0, next_attempt_at = NULL, delivered_at = NULL,
            dead_lettered_at = NULL, redeliveries = redeliveries + 1`
      )
  }
}

interface AttemptRow {
  readonly messageId: string
  readonly attempt: number
  readonly outcome: "delivered" | "failed"
  readonly status: number | null
  readonly error: string | null
  readonly durationMs: number
  readonly nextAttemptAt: string | null
  readonly at: string
}

const insertAttempt = (
  sql: SqlClient.SqlClient,
  conversationId: string,
  installationId: string,
  version: number,
  row: AttemptRow
) => sql`
  INSERT INTO rm_delivery_attempts
    (conversation_id, stream_version, message_id, installation_id, attempt, outcome, status, error,
     duration_ms, next_attempt_at, at)
  VALUES (${conversationId}::uuid, ${version}, ${row.messageId}::uuid, ${installationId}::uuid, ${row.attempt},
          ${row.outcome}, ${row.status}, ${row.error}, ${row.durationMs}, ${row.nextAttemptAt}::timestamptz,
          ${row.at}::timestamptz)
  ON CONFLICT (conversation_id, stream_version) DO NOTHING
`
