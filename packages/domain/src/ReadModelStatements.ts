import { Effect } from "effect"
import type { SqlClient } from "effect/sql"
import { anyOf, type Columns, unnestRows } from "./ColumnArrays.ts"
import type {
  AttemptRow,
  ChangedMessageRow,
  ConversationRow,
  CreatedMessageRow,
  DeadLetterRow,
  MessageRow,
  MovedConversationRow,
  RowChanges,
  StartedRow
} from "./ReadModelRows.ts"

/**
 * The read-model projection's SQL: one statement reads a batch's rows, two write what the fold made
 * of them. The writes are sets of multi-row writes (writable CTEs) fed by the rows as column
 * arrays (`ColumnArrays.unnestRows`), so a batch costs the same few statements however many
 * conversations it touches, and they keep the guards that make applying a
 * batch twice change nothing: inserts do nothing on conflict, a message row only takes a version
 * newer than its own.
 */

/** The columns each kind of row is written with, and their types. */
const startedColumns: Columns<StartedRow> = {
  conversation_id: "uuid",
  installation_id: "uuid",
  external_conversation_id: "text",
  at: "timestamptz",
  version: "int4"
}

/** The columns of a message row that its events change. */
const messageStateColumns: Columns<ChangedMessageRow> = {
  message_id: "uuid",
  conversation_id: "uuid",
  turn_status: "text",
  turn_failures: "int4",
  delivery_status: "text",
  attempts: "int4",
  last_status: "int4",
  last_error: "text",
  next_attempt_at: "timestamptz",
  delivered_at: "timestamptz",
  dead_lettered_at: "timestamptz",
  redeliveries: "int4",
  version: "int4"
}

const createdMessageColumns: Columns<CreatedMessageRow> = {
  ...messageStateColumns,
  installation_id: "uuid",
  stream_version: "int4",
  direction: "text",
  external_message_id: "text",
  user_id: "uuid",
  external_user_id: "text",
  in_reply_to: "uuid",
  type: "text",
  text: "text",
  payload: "jsonb",
  created_at: "timestamptz"
}

const attemptColumns: Columns<AttemptRow> = {
  conversation_id: "uuid",
  stream_version: "int4",
  message_id: "uuid",
  installation_id: "uuid",
  attempt: "int4",
  outcome: "text",
  status: "int4",
  error: "text",
  duration_ms: "float8",
  next_attempt_at: "timestamptz",
  at: "timestamptz"
}

const deadLetterColumns: Columns<DeadLetterRow> = {
  conversation_id: "uuid",
  message_id: "uuid",
  attempt: "int4",
  version: "int4"
}

const movedColumns: Columns<MovedConversationRow> = {
  conversation_id: "uuid",
  version: "int4",
  last_activity_at: "timestamptz",
  last_user_id: "uuid",
  last_user_version: "int4",
  user_messages: "int4",
  bot_messages: "int4",
  open_turns: "int4",
  pending: "int4",
  delivered: "int4",
  dead_lettered: "int4"
}

const messageColumns = `
  message_id::text AS message_id, conversation_id::text AS conversation_id, direction, user_id::text AS user_id,
  stream_version, turn_status, turn_failures, delivery_status, attempts, last_status, last_error,
  next_attempt_at::text AS next_attempt_at, delivered_at::text AS delivered_at,
  dead_lettered_at::text AS dead_lettered_at, redeliveries, version`

export interface BatchRows {
  readonly conversations: ReadonlyArray<ConversationRow>
  readonly messages: ReadonlyArray<MessageRow>
}

/**
 * In one statement: the rows of the batch's conversations, locked until the batch commits, and
 * the existing rows of the messages the known events name. (The batch holds the projector's
 * advisory lock, so no other writer can change the message rows while the lock is awaited.)
 */
export const loadRows = (
  sql: SqlClient.SqlClient,
  conversationIds: Iterable<string>,
  messageIds: Iterable<string>
) =>
  sql<{ readonly rows: string }>`
    WITH conversations AS (
      SELECT conversation_id::text AS conversation_id, installation_id::text AS installation_id,
             last_user_id::text AS last_user_id, version
      FROM rm_conversations
      WHERE conversation_id = ${anyOf(sql, Array.from(conversationIds), "uuid")}
      ORDER BY conversation_id
      FOR UPDATE
    )
    SELECT json_build_object(
      'conversations', (SELECT coalesce(json_agg(c), '[]') FROM conversations c),
      'messages', (
        SELECT coalesce(json_agg(m), '[]') FROM (
          SELECT ${sql.literal(messageColumns)} FROM rm_messages
          WHERE message_id = ${anyOf(sql, Array.from(messageIds), "uuid")}
        ) m
      )
    )::text AS rows
  `.pipe(
    // Not decoded by a Schema: the projection reads this for every batch of events it applies, the
    // rows come from our own columns (their types and CHECKs hold them), and the fold changes them
    // in place; a Schema decode would cost CPU per row on the projection's path and copy them.
    Effect.map((rows): BatchRows => JSON.parse(rows[0]!.rows))
  )

/** The existing rows of more messages (named by events read from the streams). */
export const loadMessages = (sql: SqlClient.SqlClient, ids: ReadonlyArray<string>) =>
  ids.length === 0
    ? Effect.succeed<ReadonlyArray<MessageRow>>([])
    : sql<MessageRow>`
        SELECT ${sql.literal(messageColumns)} FROM rm_messages
        WHERE message_id = ${anyOf(sql, ids, "uuid")}
      `

/**
 * Creates the conversations, messages and delivery attempts the batch starts and changes the
 * existing message rows it moves. These touch disjoint rows, so one statement does them all; the
 * guards are those of the row-by-row statements (inserts do nothing on conflict, a message row
 * only takes a version newer than its own).
 */
export const writeRows = (sql: SqlClient.SqlClient, rows: RowChanges) => sql`
  WITH started AS (
    INSERT INTO rm_conversations
      (conversation_id, installation_id, external_conversation_id, started_at, last_activity_at, version)
    SELECT r.conversation_id, r.installation_id, r.external_conversation_id, r.at, r.at, r.version
    FROM ${unnestRows(sql, rows.started, startedColumns)}
    ON CONFLICT (conversation_id) DO NOTHING
  ), created AS (
    INSERT INTO rm_messages
      (message_id, conversation_id, installation_id, stream_version, direction, external_message_id, user_id,
       external_user_id, in_reply_to, type, text, payload, created_at, turn_status, turn_failures,
       delivery_status, attempts, last_status, last_error, next_attempt_at, delivered_at, dead_lettered_at,
       redeliveries, version)
    SELECT message_id, conversation_id, installation_id, stream_version, direction, external_message_id, user_id,
           external_user_id, in_reply_to, type, text, payload, created_at, turn_status, turn_failures,
           delivery_status, attempts, last_status, last_error, next_attempt_at, delivered_at, dead_lettered_at,
           redeliveries, version
    FROM ${unnestRows(sql, rows.createdMessages, createdMessageColumns)}
    ON CONFLICT (message_id) DO NOTHING
  ), changed AS (
    UPDATE rm_messages m SET
      turn_status = r.turn_status, turn_failures = r.turn_failures, delivery_status = r.delivery_status,
      attempts = r.attempts, last_status = r.last_status, last_error = r.last_error,
      next_attempt_at = r.next_attempt_at, delivered_at = r.delivered_at, dead_lettered_at = r.dead_lettered_at,
      redeliveries = r.redeliveries, version = r.version
    FROM ${unnestRows(sql, rows.changedMessages, messageStateColumns)}
    WHERE m.message_id = r.message_id AND m.conversation_id = r.conversation_id AND m.version < r.version
  ), attempts AS (
    INSERT INTO rm_delivery_attempts
      (conversation_id, stream_version, message_id, installation_id, attempt, outcome, status, error,
       duration_ms, next_attempt_at, at)
    SELECT conversation_id, stream_version, message_id, installation_id, attempt, outcome, status, error,
           duration_ms, next_attempt_at, at
    FROM ${unnestRows(sql, rows.attempts, attemptColumns)}
    ON CONFLICT (conversation_id, stream_version) DO NOTHING
  )
  SELECT 1
`

/**
 * After `writeRows` (these must see its rows): marks the attempt each dead-lettering gave up on
 * (the message's latest attempt recorded before it; `stream_version < d.version` keeps the batch's
 * later ones out), and moves each conversation to the version it was brought to, with its latest
 * activity, its last user (unless a later user message is already there) and its counts changed
 * by what each changed message row counts for now less what it counted for before.
 */
export const finishRows = (sql: SqlClient.SqlClient, rows: RowChanges) => sql`
  WITH dead_lettered AS (
    UPDATE rm_delivery_attempts a SET outcome = 'dead_lettered'
    FROM ${unnestRows(sql, rows.deadLetters, deadLetterColumns, "d")}
    WHERE a.conversation_id = d.conversation_id AND a.attempt = d.attempt AND a.outcome = 'failed'
      AND a.stream_version = (
        SELECT max(p.stream_version) FROM rm_delivery_attempts p
        WHERE p.conversation_id = d.conversation_id AND p.message_id = d.message_id
          AND p.stream_version < d.version
      )
  ), moved AS (
    UPDATE rm_conversations c SET
      version = r.version,
      last_activity_at = GREATEST(c.last_activity_at, coalesce(r.last_activity_at, c.last_activity_at)),
      last_user_id = CASE
        WHEN r.last_user_version IS NOT NULL AND NOT EXISTS (
          SELECT 1 FROM rm_messages m
          WHERE m.conversation_id = c.conversation_id AND m.direction = 'user'
            AND m.stream_version > r.last_user_version
        ) THEN r.last_user_id
        ELSE c.last_user_id
      END,
      user_message_count = c.user_message_count + r.user_messages,
      bot_message_count = c.bot_message_count + r.bot_messages,
      open_turn_count = c.open_turn_count + r.open_turns,
      pending_count = c.pending_count + r.pending,
      delivered_count = c.delivered_count + r.delivered,
      dead_lettered_count = c.dead_lettered_count + r.dead_lettered
    FROM ${unnestRows(sql, rows.moved, movedColumns)}
    WHERE c.conversation_id = r.conversation_id
  )
  SELECT 1
`
