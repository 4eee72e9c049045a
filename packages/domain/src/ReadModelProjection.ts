import { Effect, Predicate, type Result, Stream } from "effect"
import type { SqlClient, SqlError } from "effect/sql"
import type { ConversationEvent } from "./ConversationEvents.ts"
import { type EventDecodeError, fromRecorded } from "./ConversationStream.ts"
import type { EventStore, RecordedEvent } from "./EventStore.ts"
import { type ConversationId, conversationStream } from "./Ids.ts"
import { occurredAt } from "./Timeline.ts"

/**
 * How a conversation's events change the read-model rows (rm_conversations, rm_messages,
 * rm_delivery_attempts). A conversation is always brought forward in stream order from the version
 * its row records, whatever order the global log delivered its events in, so the rows are a
 * function of the stream alone: following the log live and rebuilding from scratch give the same
 * rows. Callers run this inside the batch's transaction.
 *
 * Set-based: each SQL statement costs the one Node thread far more than computing a row change, so
 * a batch is applied with a constant number of statements whatever its size or how many
 * conversations it touches: one read (the conversations' rows, locked, and the message rows the
 * events name), then the events are applied in TypeScript, in stream order, to in-memory copies of
 * those rows, then two writes carry the results as multi-row statements (`jsonb_to_recordset`).
 * The writes keep the guards the row-by-row statements had (inserts do nothing on conflict, a
 * message row only takes a change newer than its `version`), so applying a batch twice still
 * changes nothing. The per-conversation counts move by the difference each changed message row
 * makes instead of being counted again from rm_messages.
 */

export { conversationOfStream } from "./Ids.ts"

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

/** A parameter holding rows for `jsonb_to_recordset`. */
const recordset = (sql: SqlClient.SqlClient, rows: ReadonlyArray<object>) =>
  sql`${JSON.stringify(rows)}::jsonb`

// ---------------------------------------------------------------------------------------------
// In-memory rows

/** What a message row adds to its conversation's counts. */
interface Counts {
  user_messages: number
  bot_messages: number
  open_turns: number
  pending: number
  delivered: number
  dead_lettered: number
}

const noCounts = (): Counts => ({
  user_messages: 0,
  bot_messages: 0,
  open_turns: 0,
  pending: 0,
  delivered: 0,
  dead_lettered: 0
})

/** The columns of an rm_messages row that events change (timestamps as text Postgres reads back). */
interface MessageState {
  readonly conversation_id: string
  readonly direction: "user" | "bot"
  readonly user_id: string | null
  readonly stream_version: number
  turn_status: "open" | "completed" | "failed" | null
  turn_failures: number | null
  delivery_status: "pending" | "delivered" | "dead_lettered" | "pull" | null
  attempts: number
  last_status: number | null
  last_error: string | null
  next_attempt_at: string | null
  delivered_at: string | null
  dead_lettered_at: string | null
  redeliveries: number
  version: number
}

/** The columns an rm_messages row is created with and never changes afterwards. */
interface MessageCreation {
  readonly message_id: string
  readonly installation_id: string
  readonly external_message_id: string | null
  readonly external_user_id: string | null
  readonly in_reply_to: string | null
  readonly type: string
  readonly text: string | null
  readonly payload: unknown
  readonly created_at: string
}

interface TrackedMessage {
  readonly state: MessageState
  /** Set when the batch creates the row. */
  readonly creation: MessageCreation | undefined
  /** What the row counted for before the batch; undefined when the batch creates it. */
  readonly before: Counts | undefined
  changed: boolean
}

const countsOf = (row: MessageState): Counts => ({
  user_messages: row.direction === "user" ? 1 : 0,
  bot_messages: row.direction === "bot" ? 1 : 0,
  open_turns: row.turn_status === "open" ? 1 : 0,
  pending: row.delivery_status === "pending" ? 1 : 0,
  delivered: row.delivery_status === "delivered" ? 1 : 0,
  dead_lettered: row.delivery_status === "dead_lettered" ? 1 : 0
})

/** One conversation as the batch brings it forward. */
interface ConversationState {
  readonly conversationId: string
  /** The row's version before the batch (0 when there is no row). */
  readonly version: number
  installationId: string | undefined
  /** Who bot messages without an open turn are addressed to, as of the event being applied. */
  lastUserId: string | null
  /** The latest user message applied by the batch. */
  lastUser: { readonly userId: string; readonly version: number } | undefined
  lastActivity: string | undefined
  applied: number | undefined
  /** Set when the batch starts the conversation (its row is inserted). */
  started:
    | {
        readonly installationId: string
        readonly externalConversationId: string
        readonly at: string
        readonly version: number
      }
    | undefined
  readonly counts: Counts
}

interface AttemptRow {
  readonly conversation_id: string
  readonly stream_version: number
  readonly message_id: string
  readonly installation_id: string
  readonly attempt: number
  readonly outcome: "delivered" | "failed"
  readonly status: number | null
  readonly error: string | null
  readonly duration_ms: number
  readonly next_attempt_at: string | null
  readonly at: string
}

/** An attempt to mark as the one that dead-lettered its message. */
interface DeadLetterRow {
  readonly conversation_id: string
  readonly message_id: string
  readonly attempt: number
  readonly version: number
}

/** Everything a batch changes, built in memory and then written with a few statements. */
interface BatchChanges {
  readonly messages: Map<string, TrackedMessage>
  readonly attempts: Array<AttemptRow>
  readonly deadLetters: Array<DeadLetterRow>
}

// ---------------------------------------------------------------------------------------------
// Reads

interface ConversationRow {
  readonly conversation_id: string
  readonly installation_id: string
  readonly last_user_id: string | null
  readonly version: number
}

const idList = (ids: Iterable<string>) => JSON.stringify(Array.from(ids))

const messageColumns = `
  message_id::text AS message_id, conversation_id::text AS conversation_id, direction, user_id::text AS user_id,
  stream_version, turn_status, turn_failures, delivery_status, attempts, last_status, last_error,
  next_attempt_at::text AS next_attempt_at, delivered_at::text AS delivered_at,
  dead_lettered_at::text AS dead_lettered_at, redeliveries, version`

type MessageRow = MessageState & { readonly message_id: string }

interface BatchRows {
  readonly conversations: ReadonlyArray<ConversationRow>
  readonly messages: ReadonlyArray<MessageRow>
}

/**
 * In one statement: the rows of the batch's conversations, locked until the batch commits, and
 * the existing rows of the messages the known events name. (The batch holds the projector's
 * advisory lock, so no other writer can change the message rows while the lock is awaited.)
 */
const loadRows = (
  sql: SqlClient.SqlClient,
  conversationIds: Iterable<string>,
  messageIds: Iterable<string>
) =>
  sql<{ readonly rows: string }>`
    WITH conversations AS (
      SELECT conversation_id::text AS conversation_id, installation_id::text AS installation_id,
             last_user_id::text AS last_user_id, version
      FROM rm_conversations
      WHERE conversation_id IN (SELECT value::uuid FROM jsonb_array_elements_text(${idList(conversationIds)}::jsonb))
      ORDER BY conversation_id
      FOR UPDATE
    )
    SELECT json_build_object(
      'conversations', (SELECT coalesce(json_agg(c), '[]') FROM conversations c),
      'messages', (
        SELECT coalesce(json_agg(m), '[]') FROM (
          SELECT ${sql.literal(messageColumns)} FROM rm_messages
          WHERE message_id IN (SELECT value::uuid FROM jsonb_array_elements_text(${idList(messageIds)}::jsonb))
        ) m
      )
    )::text AS rows
  `.pipe(Effect.map((rows): BatchRows => JSON.parse(rows[0]!.rows)))

/** The existing rows of more messages (named by events read from the streams). */
const loadMessages = (sql: SqlClient.SqlClient, ids: ReadonlyArray<string>) =>
  ids.length === 0
    ? Effect.succeed<ReadonlyArray<MessageRow>>([])
    : sql<MessageRow>`
        SELECT ${sql.literal(messageColumns)} FROM rm_messages
        WHERE message_id IN (SELECT value::uuid FROM jsonb_array_elements_text(${idList(ids)}::jsonb))
      `

/** The ids of the messages an event creates or changes. */
const messageIdsOf = (event: ConversationEvent): ReadonlyArray<string> => {
  switch (event._tag) {
    case "ConversationStarted":
      return []
    case "UserMessageReceived":
      return [event.messageId]
    case "BotMessageEmitted":
      return event.inReplyTo === null ? [event.messageId] : [event.messageId, event.inReplyTo]
    case "BotTurnCompleted":
    case "BotTurnFailed":
      return [event.userMessageId]
    case "DeliveryAttemptFailed":
    case "MessageDelivered":
    case "MessageDeadLettered":
    case "RedeliveryRequested":
      return [event.messageId]
    case "DeliveriesPaused":
    case "DeliveriesResumed":
      return []
  }
}

/** The events of one conversation from `from` to `upTo`: the known ones, or else read from its stream. */
const eventsToApply = (
  store: EventStore["Service"],
  conversationId: string,
  from: number,
  upTo: number,
  known: ReadonlyArray<RecordedEvent>
): Effect.Effect<ReadonlyArray<RecordedEvent>, SqlError.SqlError> => {
  if (from > upTo) return Effect.succeed([])
  const pending = known.filter((event) => event.version >= from && event.version <= upTo)
  pending.sort((a, b) => a.version - b.version)
  const contiguous =
    pending.length === upTo - from + 1 && pending.every((event, i) => event.version === from + i)
  return contiguous
    ? Effect.succeed(pending)
    : store.readStream(conversationStream(conversationId as ConversationId), from).pipe(
        Stream.takeWhile((event) => event.version <= upTo),
        Stream.runCollect
      )
}

// ---------------------------------------------------------------------------------------------
// Applying events in memory

/** Changes one message of this conversation, once: the row remembers the last event applied to it. */
const changeMessage = (
  changes: BatchChanges,
  conversationId: string,
  messageId: string,
  direction: "user" | "bot",
  version: number,
  change: (row: MessageState) => void
): void => {
  const tracked = changes.messages.get(messageId)
  if (tracked === undefined) return
  const row = tracked.state
  if (row.conversation_id !== conversationId || row.direction !== direction || row.version >= version) return
  if (direction === "user" && row.turn_status !== "open") return
  change(row)
  row.version = version
  tracked.changed = true
}

/** Creates a message row unless one with its id exists already. */
const createMessage = (
  changes: BatchChanges,
  creation: MessageCreation,
  state: Omit<
    MessageState,
    | "attempts"
    | "last_status"
    | "last_error"
    | "next_attempt_at"
    | "delivered_at"
    | "dead_lettered_at"
    | "redeliveries"
  >
): void => {
  if (changes.messages.has(creation.message_id)) return
  changes.messages.set(creation.message_id, {
    state: {
      ...state,
      attempts: 0,
      last_status: null,
      last_error: null,
      next_attempt_at: null,
      delivered_at: null,
      dead_lettered_at: null,
      redeliveries: 0
    },
    creation,
    before: undefined,
    changed: true
  })
}

/** The row changes of one event, made to the batch's in-memory rows. */
const applyEvent = (
  changes: BatchChanges,
  conversation: ConversationState,
  installationId: string,
  recorded: RecordedEvent,
  event: ConversationEvent
): void => {
  const conversationId = conversation.conversationId
  const version = recorded.version
  const at = timeOf(event, recorded)
  const message = (messageId: string, direction: "user" | "bot", change: (row: MessageState) => void) =>
    changeMessage(changes, conversationId, messageId, direction, version, change)
  switch (event._tag) {
    case "ConversationStarted":
      if (conversation.version === 0 && conversation.started === undefined) {
        conversation.started = {
          installationId: event.installationId,
          externalConversationId: event.externalConversationId,
          at,
          version
        }
      }
      return
    case "UserMessageReceived":
      createMessage(
        changes,
        {
          message_id: event.messageId,
          installation_id: installationId,
          external_message_id: event.externalMessageId,
          external_user_id: event.externalUserId,
          in_reply_to: null,
          type: event.type,
          text: event.text,
          payload: event.payload,
          created_at: at
        },
        {
          conversation_id: conversationId,
          direction: "user",
          user_id: event.userId,
          stream_version: version,
          turn_status: "open",
          turn_failures: 0,
          delivery_status: null,
          version
        }
      )
      // Only the latest user message names the last user, whatever order it is applied in.
      conversation.lastUserId = event.userId
      conversation.lastUser = { userId: event.userId, version }
      return
    case "BotMessageEmitted": {
      // Addressed like Conversation.evolve does: the user of the open turn it answers, else the last user.
      const turn = event.inReplyTo === null ? undefined : changes.messages.get(event.inReplyTo)?.state
      const turnUser =
        turn !== undefined &&
        turn.conversation_id === conversationId &&
        turn.direction === "user" &&
        turn.turn_status === "open"
          ? turn.user_id
          : null
      createMessage(
        changes,
        {
          message_id: event.messageId,
          installation_id: installationId,
          external_message_id: null,
          external_user_id: null,
          in_reply_to: event.inReplyTo,
          type: event.type,
          text: textOf(event.payload),
          payload: event.payload,
          created_at: at
        },
        {
          conversation_id: conversationId,
          direction: "bot",
          user_id: turnUser ?? conversation.lastUserId,
          stream_version: version,
          turn_status: null,
          turn_failures: null,
          // A pull-only conversation's messages are read, never POSTed: "pull", no attempts.
          delivery_status: event.delivery === "pull" ? "pull" : "pending",
          version
        }
      )
      return
    }
    case "BotTurnCompleted":
      message(event.userMessageId, "user", (row) => {
        row.turn_status = "completed"
      })
      return
    case "BotTurnFailed":
      message(event.userMessageId, "user", (row) => {
        row.turn_failures = event.attempt
        row.turn_status = event.retryAt === null ? "failed" : "open"
      })
      return
    case "DeliveryAttemptFailed": {
      const nextAttemptAt = instantOrNull(event.nextAttemptAt)
      changes.attempts.push({
        conversation_id: conversationId,
        stream_version: version,
        message_id: event.messageId,
        installation_id: installationId,
        attempt: event.attempt,
        outcome: "failed",
        status: event.status,
        error: event.error,
        duration_ms: event.durationMs,
        next_attempt_at: nextAttemptAt,
        at
      })
      message(event.messageId, "bot", (row) => {
        row.attempts = event.attempt
        row.last_status = event.status
        row.last_error = event.error
        row.next_attempt_at = nextAttemptAt
      })
      return
    }
    case "MessageDelivered":
      changes.attempts.push({
        conversation_id: conversationId,
        stream_version: version,
        message_id: event.messageId,
        installation_id: installationId,
        attempt: event.attempt,
        outcome: "delivered",
        status: event.status,
        error: null,
        duration_ms: event.durationMs,
        next_attempt_at: null,
        at
      })
      message(event.messageId, "bot", (row) => {
        row.delivery_status = "delivered"
        row.attempts = event.attempt
        row.last_status = event.status
        row.last_error = null
        row.next_attempt_at = null
        row.delivered_at = at
      })
      return
    case "MessageDeadLettered":
      // The attempt that gave up was recorded just before: it is the one that dead-lettered.
      changes.deadLetters.push({
        conversation_id: conversationId,
        message_id: event.messageId,
        attempt: event.attempt,
        version
      })
      message(event.messageId, "bot", (row) => {
        row.delivery_status = "dead_lettered"
        row.attempts = event.attempt
        row.last_status = event.status
        row.last_error = event.reason
        row.next_attempt_at = null
        row.dead_lettered_at = at
      })
      return
    case "RedeliveryRequested":
      message(event.messageId, "bot", (row) => {
        row.delivery_status = "pending"
        row.attempts = 0
        row.next_attempt_at = null
        row.delivered_at = null
        row.dead_lettered_at = null
        row.redeliveries = row.redeliveries + 1
      })
      return
    case "DeliveriesPaused":
    case "DeliveriesResumed":
      // Held messages stay pending; the pause is the conversation's, not a message's.
      return
  }
}

type Decoded = readonly [RecordedEvent, Result.Result<ConversationEvent, EventDecodeError>]

/** Applies one conversation's events in stream order, skipping what cannot be applied (with a warning). */
const applyConversation = Effect.fnUntraced(function* (
  changes: BatchChanges,
  conversation: ConversationState,
  events: ReadonlyArray<Decoded>
) {
  for (const [recorded, decoded] of events) {
    if (decoded._tag === "Failure") {
      yield* Effect.logWarning("read models: skipping an event they cannot decode", decoded.failure)
    } else if (decoded.success._tag === "ConversationStarted") {
      conversation.installationId ??= decoded.success.installationId
      applyEvent(changes, conversation, decoded.success.installationId, recorded, decoded.success)
    } else if (conversation.installationId === undefined) {
      yield* Effect.logWarning("read models: skipping an event of a conversation that has not started", {
        streamId: recorded.streamId,
        version: recorded.version,
        type: recorded.type
      })
      continue
    } else {
      applyEvent(changes, conversation, conversation.installationId, recorded, decoded.success)
    }
    if (conversation.installationId !== undefined) {
      conversation.applied = recorded.version
      if (decoded._tag === "Success") {
        const time = timeOf(decoded.success, recorded)
        if (conversation.lastActivity === undefined || time > conversation.lastActivity) {
          conversation.lastActivity = time
        }
      }
    }
  }
})

/** Adds what each changed message row now counts for, less what it counted for before, to its conversation. */
const addCountChanges = (
  changes: BatchChanges,
  conversations: ReadonlyMap<string, ConversationState>
): void => {
  for (const tracked of changes.messages.values()) {
    if (!tracked.changed) continue
    const conversation = conversations.get(tracked.state.conversation_id)
    if (conversation === undefined) continue
    const after = countsOf(tracked.state)
    const before = tracked.before ?? noCounts()
    for (const key of Object.keys(after) as Array<keyof Counts>) {
      conversation.counts[key] += after[key] - before[key]
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writes: two statements, each a set of multi-row writes (writable CTEs) fed by jsonb_to_recordset

const startedRows = (conversations: ReadonlyArray<ConversationState>) =>
  conversations.flatMap((c) =>
    c.started === undefined
      ? []
      : [
          {
            conversation_id: c.conversationId,
            installation_id: c.started.installationId,
            external_conversation_id: c.started.externalConversationId,
            at: c.started.at,
            version: c.started.version
          }
        ]
  )

/** Rows the batch creates, with their state after the whole batch (the payload as JSON text). */
const createdMessageRows = (changes: BatchChanges) =>
  Array.from(changes.messages.values()).flatMap((m) =>
    m.creation === undefined
      ? []
      : [{ ...m.creation, ...m.state, payload: JSON.stringify(m.creation.payload) }]
  )

/** Existing rows the batch changes, with their state after the whole batch. */
const changedMessageRows = (changes: BatchChanges) =>
  Array.from(changes.messages.entries()).flatMap(([messageId, m]) =>
    m.creation === undefined && m.changed ? [{ ...m.state, message_id: messageId }] : []
  )

const movedConversationRows = (conversations: ReadonlyArray<ConversationState>) =>
  conversations.flatMap((c) =>
    c.installationId === undefined || c.applied === undefined
      ? []
      : [
          {
            conversation_id: c.conversationId,
            version: c.applied,
            last_activity_at: c.lastActivity ?? null,
            last_user_id: c.lastUser?.userId ?? null,
            last_user_version: c.lastUser?.version ?? null,
            ...c.counts
          }
        ]
  )

/**
 * Creates the conversations, messages and delivery attempts the batch starts and changes the
 * existing message rows it moves. These touch disjoint rows, so one statement does them all; the
 * guards are those of the row-by-row statements (inserts do nothing on conflict, a message row
 * only takes a version newer than its own).
 */
const writeRows = (
  sql: SqlClient.SqlClient,
  changes: BatchChanges,
  conversations: ReadonlyArray<ConversationState>
) => sql`
  WITH started AS (
    INSERT INTO rm_conversations
      (conversation_id, installation_id, external_conversation_id, started_at, last_activity_at, version)
    SELECT r.conversation_id, r.installation_id, r.external_conversation_id, r.at, r.at, r.version
    FROM jsonb_to_recordset(${recordset(sql, startedRows(conversations))}) AS r(
      conversation_id uuid, installation_id uuid, external_conversation_id text, at timestamptz, version integer)
    ON CONFLICT (conversation_id) DO NOTHING
  ), created AS (
    INSERT INTO rm_messages
      (message_id, conversation_id, installation_id, stream_version, direction, external_message_id, user_id,
       external_user_id, in_reply_to, type, text, payload, created_at, turn_status, turn_failures,
       delivery_status, attempts, last_status, last_error, next_attempt_at, delivered_at, dead_lettered_at,
       redeliveries, version)
    SELECT message_id, conversation_id, installation_id, stream_version, direction, external_message_id, user_id,
           external_user_id, in_reply_to, type, text, payload::jsonb, created_at, turn_status, turn_failures,
           delivery_status, attempts, last_status, last_error, next_attempt_at, delivered_at, dead_lettered_at,
           redeliveries, version
    FROM jsonb_to_recordset(${recordset(sql, createdMessageRows(changes))}) AS r(
      message_id uuid, conversation_id uuid, installation_id uuid, stream_version integer, direction text,
      external_message_id text, user_id uuid, external_user_id text, in_reply_to uuid, type text, text text,
      payload text, created_at timestamptz, turn_status text, turn_failures integer, delivery_status text,
      attempts integer, last_status integer, last_error text, next_attempt_at timestamptz,
      delivered_at timestamptz, dead_lettered_at timestamptz, redeliveries integer, version integer)
    ON CONFLICT (message_id) DO NOTHING
  ), changed AS (
    UPDATE rm_messages m SET
      turn_status = r.turn_status, turn_failures = r.turn_failures, delivery_status = r.delivery_status,
      attempts = r.attempts, last_status = r.last_status, last_error = r.last_error,
      next_attempt_at = r.next_attempt_at, delivered_at = r.delivered_at, dead_lettered_at = r.dead_lettered_at,
      redeliveries = r.redeliveries, version = r.version
    FROM jsonb_to_recordset(${recordset(sql, changedMessageRows(changes))}) AS r(
      message_id uuid, conversation_id uuid, turn_status text, turn_failures integer, delivery_status text,
      attempts integer, last_status integer, last_error text, next_attempt_at timestamptz,
      delivered_at timestamptz, dead_lettered_at timestamptz, redeliveries integer, version integer)
    WHERE m.message_id = r.message_id AND m.conversation_id = r.conversation_id AND m.version < r.version
  ), attempts AS (
    INSERT INTO rm_delivery_attempts
      (conversation_id, stream_version, message_id, installation_id, attempt, outcome, status, error,
       duration_ms, next_attempt_at, at)
    SELECT conversation_id, stream_version, message_id, installation_id, attempt, outcome, status, error,
           duration_ms, next_attempt_at, at
    FROM jsonb_to_recordset(${recordset(sql, changes.attempts)}) AS r(
      conversation_id uuid, stream_version integer, message_id uuid, installation_id uuid, attempt integer,
      outcome text, status integer, error text, duration_ms double precision, next_attempt_at timestamptz,
      at timestamptz)
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
const finishRows = (
  sql: SqlClient.SqlClient,
  changes: BatchChanges,
  conversations: ReadonlyArray<ConversationState>
) => sql`
  WITH dead_lettered AS (
    UPDATE rm_delivery_attempts a SET outcome = 'dead_lettered'
    FROM jsonb_to_recordset(${recordset(sql, changes.deadLetters)}) AS d(
      conversation_id uuid, message_id uuid, attempt integer, version integer)
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
    FROM jsonb_to_recordset(${recordset(sql, movedConversationRows(conversations))}) AS r(
      conversation_id uuid, version integer, last_activity_at timestamptz, last_user_id uuid,
      last_user_version integer, user_messages integer, bot_messages integer, open_turns integer,
      pending integer, delivered integer, dead_lettered integer)
    WHERE c.conversation_id = r.conversation_id
  )
  SELECT 1
`

// ---------------------------------------------------------------------------------------------
// Entry points

/** One conversation's share of a batch: the events of its stream the caller has, up to `upTo`. */
export interface ConversationEvents {
  readonly conversationId: string
  /** A version of the stream the log has shown. */
  readonly upTo: number
  readonly known: ReadonlyArray<RecordedEvent>
}

/**
 * Brings every conversation of a batch up to its `upTo`. Events of a stream the caller does not
 * have are read from the stream. Statements: one read, two writes (plus, only when events had to
 * be read from a stream, one read of the message rows they name).
 */
export const projectBatch = Effect.fnUntraced(function* (
  sql: SqlClient.SqlClient,
  store: EventStore["Service"],
  batch: ReadonlyArray<ConversationEvents>
) {
  if (batch.length === 0) return
  const decoded = new Map<RecordedEvent, Decoded>()
  const decode = Effect.fnUntraced(function* (recorded: RecordedEvent) {
    const known = decoded.get(recorded)
    if (known !== undefined) return known
    const result: Decoded = [recorded, yield* fromRecorded(recorded).pipe(Effect.result)]
    decoded.set(recorded, result)
    return result
  })
  const loaded = new Set<string>()
  for (const { known } of batch) {
    for (const recorded of known) {
      const [, event] = yield* decode(recorded)
      if (event._tag === "Success") for (const id of messageIdsOf(event.success)) loaded.add(id)
    }
  }
  const rows = yield* loadRows(
    sql,
    batch.map((c) => c.conversationId),
    loaded
  )
  const rowOf = new Map(rows.conversations.map((row) => [row.conversation_id, row]))
  const changes: BatchChanges = { messages: new Map(), attempts: [], deadLetters: [] }
  const track = (messages: ReadonlyArray<MessageRow>) => {
    for (const { message_id, ...state } of messages) {
      changes.messages.set(message_id, {
        state,
        creation: undefined,
        before: countsOf(state),
        changed: false
      })
    }
  }
  track(rows.messages)

  const conversations = new Map<string, ConversationState>()
  const eventsOf = new Map<string, ReadonlyArray<Decoded>>()
  const unloaded = new Set<string>()
  for (const { conversationId, upTo, known } of batch) {
    const row = rowOf.get(conversationId)
    const version = row?.version ?? 0
    const events = yield* eventsToApply(store, conversationId, version + 1, upTo, known)
    if (events.length === 0) continue
    const applicable: Array<Decoded> = []
    for (const recorded of events) {
      const entry = yield* decode(recorded)
      applicable.push(entry)
      if (entry[1]._tag === "Success") {
        for (const id of messageIdsOf(entry[1].success)) if (!loaded.has(id)) unloaded.add(id)
      }
    }
    eventsOf.set(conversationId, applicable)
    conversations.set(conversationId, {
      conversationId,
      version,
      installationId: row?.installation_id,
      lastUserId: row?.last_user_id ?? null,
      lastUser: undefined,
      lastActivity: undefined,
      applied: row?.version,
      started: undefined,
      counts: noCounts()
    })
  }
  if (conversations.size === 0) return
  track(yield* loadMessages(sql, Array.from(unloaded)))

  for (const [conversationId, events] of eventsOf) {
    yield* applyConversation(changes, conversations.get(conversationId)!, events)
  }
  addCountChanges(changes, conversations)

  const touched = Array.from(conversations.values())
  yield* writeRows(sql, changes, touched)
  yield* finishRows(sql, changes, touched)
})

/** Brings one conversation's rows up to `upTo`; `known` holds the events of its stream the caller has. */
export const projectConversation = (
  sql: SqlClient.SqlClient,
  store: EventStore["Service"],
  conversationId: string,
  upTo: number,
  known: ReadonlyArray<RecordedEvent>
): Effect.Effect<void, SqlError.SqlError> => projectBatch(sql, store, [{ conversationId, upTo, known }])
