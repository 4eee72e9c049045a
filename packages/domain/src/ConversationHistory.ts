import { Context, Effect, Layer, Option, Schema, Stream } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { ConversationOwners } from "./ConversationOwners.ts"
import { EventStore } from "./EventStore.ts"
import { ConversationId, conversationStream, MessageId } from "./Ids.ts"
import { allows, type InstallationScope, sqlFilter } from "./InstallationScope.ts"
import * as PageCursor from "./PageCursor.ts"
import {
  ConversationNotFound,
  ConversationSummary,
  DeliveryAttempt,
  defaultPageSize,
  type InvalidCursor,
  MessageNotFound,
  MessageRecord,
  maxPageSize,
  type Page,
  type PageOptions,
  StoredEvent
} from "./ReadModels.ts"

/**
 * Reads conversations, their messages, delivery attempts and raw events, for one reader's
 * installations. Lists come a page at a time with opaque cursors. Anything outside the reader's
 * installations is reported exactly like something that does not exist.
 *
 * Conversations, messages and attempts come from the read models (kept current by the Projector,
 * so they may trail the log by a moment); raw events come from the event store itself.
 */
export class ConversationHistory extends Context.Service<
  ConversationHistory,
  {
    /** Newest first (by start time); only those with the caller's conversation id when it is given. */
    listConversations(
      options: PageOptions & { readonly externalConversationId?: string | undefined }
    ): Effect.Effect<Page<ConversationSummary>, InvalidCursor | SqlError.SqlError>
    getConversation(
      conversationId: string,
      installationIds: InstallationScope
    ): Effect.Effect<ConversationSummary, ConversationNotFound | SqlError.SqlError>
    /** User and bot messages in conversation order, each with its bot turn or its delivery. */
    listMessages(
      conversationId: string,
      options: PageOptions
    ): Effect.Effect<Page<MessageRecord>, ConversationNotFound | InvalidCursor | SqlError.SqlError>
    getMessage(
      messageId: string,
      installationIds: InstallationScope
    ): Effect.Effect<MessageRecord, MessageNotFound | SqlError.SqlError>
    /** Delivery attempts in the order they were made; only one message's when `messageId` is given. */
    listDeliveryAttempts(
      conversationId: string,
      options: PageOptions & { readonly messageId?: string | undefined }
    ): Effect.Effect<
      Page<DeliveryAttempt>,
      ConversationNotFound | MessageNotFound | InvalidCursor | SqlError.SqlError
    >
    /** The stored events of a conversation in stream order, from `fromVersion` (1) unless a cursor says where. */
    readEvents(
      conversationId: string,
      options: PageOptions & { readonly fromVersion?: number | undefined }
    ): Effect.Effect<Page<StoredEvent>, ConversationNotFound | InvalidCursor | SqlError.SqlError>
  }
>()("@messaging-api/domain/ConversationHistory") {
  /** Over the SqlClient and the EventStore, with its own `ConversationOwners`. */
  static readonly layer = Layer.effect(ConversationHistory, make()).pipe(
    Layer.provide(ConversationOwners.layer)
  )
}

/** Items per page: `limit` clamped to 1..maxPageSize, the default when absent or not a number. */
export const pageSize = (limit: number | undefined): number =>
  limit === undefined || !Number.isFinite(limit)
    ? defaultPageSize
    : Math.min(maxPageSize, Math.max(1, Math.trunc(limit)))

const decodeConversationId = Schema.decodeUnknownOption(ConversationId)
const decodeMessageId = Schema.decodeUnknownOption(MessageId)

const iso = (value: Date | null): string | null => (value === null ? null : value.toISOString())

interface ConversationRow {
  readonly conversation_id: string
  readonly installation_id: string
  readonly external_conversation_id: string
  readonly started_at: Date
  readonly last_activity_at: Date
  readonly user_message_count: number
  readonly bot_message_count: number
  readonly open_turn_count: number
  readonly pending_count: number
  readonly delivered_count: number
  readonly dead_lettered_count: number
  readonly version: number
}

const decodeConversation = Schema.decodeUnknownSync(ConversationSummary)
const toConversation = (row: ConversationRow): ConversationSummary =>
  decodeConversation({
    id: row.conversation_id,
    installationId: row.installation_id,
    externalConversationId: row.external_conversation_id,
    startedAt: row.started_at.toISOString(),
    lastActivityAt: row.last_activity_at.toISOString(),
    userMessageCount: row.user_message_count,
    botMessageCount: row.bot_message_count,
    openTurnCount: row.open_turn_count,
    pendingCount: row.pending_count,
    deliveredCount: row.delivered_count,
    deadLetteredCount: row.dead_lettered_count,
    version: row.version
  })

interface MessageRow {
  readonly message_id: string
  readonly conversation_id: string
  readonly installation_id: string
  readonly stream_version: number
  readonly direction: "user" | "bot"
  readonly external_message_id: string | null
  readonly user_id: string | null
  readonly external_user_id: string | null
  readonly in_reply_to: string | null
  readonly type: string
  readonly text: string | null
  readonly payload: unknown
  readonly created_at: Date
  readonly turn_status: string | null
  readonly turn_failures: number | null
  readonly delivery_status: string | null
  readonly attempts: number
  readonly last_status: number | null
  readonly last_error: string | null
  readonly next_attempt_at: Date | null
  readonly delivered_at: Date | null
  readonly dead_lettered_at: Date | null
  readonly redeliveries: number
}

/** The delivery columns of a bot row of `rm_messages`. */
export interface DeliveryColumns {
  readonly delivery_status: string
  readonly attempts: number
  readonly last_status: number | null
  readonly last_error: string | null
  readonly next_attempt_at: Date | null
  readonly delivered_at: Date | null
  readonly dead_lettered_at: Date | null
  readonly redeliveries: number
}

/** A bot message's delivery as the API shows it (the message list and the deliveries list alike). */
export const deliveryOf = (row: DeliveryColumns) => ({
  status: row.delivery_status,
  attempts: row.attempts,
  lastStatus: row.last_status,
  lastError: row.last_error,
  nextAttemptAt: iso(row.next_attempt_at),
  deliveredAt: iso(row.delivered_at),
  deadLetteredAt: iso(row.dead_lettered_at),
  redeliveries: row.redeliveries
})

const decodeMessage = Schema.decodeUnknownSync(MessageRecord)
const toMessage = (row: MessageRow): MessageRecord =>
  decodeMessage({
    id: row.message_id,
    conversationId: row.conversation_id,
    installationId: row.installation_id,
    direction: row.direction,
    position: row.stream_version,
    externalMessageId: row.external_message_id,
    userId: row.user_id,
    externalUserId: row.external_user_id,
    inReplyTo: row.in_reply_to,
    type: row.type,
    text: row.text,
    payload: row.payload,
    createdAt: row.created_at.toISOString(),
    turn: row.turn_status === null ? null : { status: row.turn_status, failures: row.turn_failures ?? 0 },
    delivery:
      row.delivery_status === null ? null : deliveryOf({ ...row, delivery_status: row.delivery_status })
  })

interface AttemptRow {
  readonly conversation_id: string
  readonly message_id: string
  readonly stream_version: number
  readonly attempt: number
  readonly outcome: string
  readonly status: number | null
  readonly error: string | null
  readonly duration_ms: number
  readonly next_attempt_at: Date | null
  readonly at: Date
}

const decodeAttempt = Schema.decodeUnknownSync(DeliveryAttempt)
const toAttempt = (row: AttemptRow): DeliveryAttempt =>
  decodeAttempt({
    conversationId: row.conversation_id,
    messageId: row.message_id,
    position: row.stream_version,
    attempt: row.attempt,
    outcome: row.outcome,
    status: row.status,
    error: row.error,
    durationMs: row.duration_ms,
    nextAttemptAt: iso(row.next_attempt_at),
    at: row.at.toISOString()
  })

/** Splits the `limit + 1` rows a page query read into the page and the cursor of the next one. */
const toPage = <A>(items: ReadonlyArray<A>, limit: number, cursorOf: (last: A) => string): Page<A> => {
  if (items.length <= limit) return { items, nextCursor: null }
  const page = items.slice(0, limit)
  return { items: page, nextCursor: cursorOf(page[page.length - 1]!) }
}

function make() {
  return Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const store = yield* EventStore
    const owners = yield* ConversationOwners

    const visible = (scope: InstallationScope) => sqlFilter(sql, scope)

    const conversationColumns = sql`
      conversation_id::text AS conversation_id, installation_id::text AS installation_id,
      external_conversation_id, started_at, last_activity_at, user_message_count, bot_message_count,
      open_turn_count, pending_count, delivered_count, dead_lettered_count, version
    `
    const messageColumns = sql`
      message_id::text AS message_id, conversation_id::text AS conversation_id,
      installation_id::text AS installation_id, stream_version, direction, external_message_id,
      user_id::text AS user_id, external_user_id, in_reply_to::text AS in_reply_to, type, text, payload,
      created_at, turn_status, turn_failures, delivery_status, attempts, last_status, last_error,
      next_attempt_at, delivered_at, dead_lettered_at, redeliveries
    `

    const listConversations = Effect.fn("ConversationHistory.listConversations")(function* (
      options: PageOptions & { readonly externalConversationId?: string | undefined }
    ) {
      const limit = pageSize(options.limit)
      const after = options.cursor === undefined ? undefined : yield* PageCursor.decodeTime(options.cursor)
      const rows = yield* sql<ConversationRow>`
        SELECT ${conversationColumns} FROM rm_conversations
        WHERE ${visible(options.installationIds)}
          AND ${
            options.externalConversationId === undefined
              ? sql`TRUE`
              : sql`external_conversation_id = ${options.externalConversationId}`
          }
          AND ${
            after === undefined
              ? sql`TRUE`
              : sql`(started_at, conversation_id) < (${after.t}::timestamptz, ${after.id}::uuid)`
          }
        ORDER BY started_at DESC, conversation_id DESC
        LIMIT ${limit + 1}
      `
      return toPage(rows.map(toConversation), limit, (last) =>
        PageCursor.encodeTime({ t: last.startedAt, id: last.id })
      )
    })

    const findConversation = (conversationId: string, scope: InstallationScope) =>
      Effect.gen(function* () {
        const id = decodeConversationId(conversationId)
        if (Option.isNone(id)) return yield* new ConversationNotFound({ conversationId })
        const rows = yield* sql<ConversationRow>`
          SELECT ${conversationColumns} FROM rm_conversations
          WHERE conversation_id = ${id.value}::uuid AND ${visible(scope)}
        `
        const row = rows[0]
        if (row === undefined) return yield* new ConversationNotFound({ conversationId })
        return toConversation(row)
      })

    const getConversation = Effect.fn("ConversationHistory.getConversation")(
      (conversationId: string, installationIds: InstallationScope) =>
        findConversation(conversationId, installationIds)
    )

    const listMessages = Effect.fn("ConversationHistory.listMessages")(function* (
      conversationId: string,
      options: PageOptions
    ) {
      const limit = pageSize(options.limit)
      const after =
        options.cursor === undefined ? 0 : yield* PageCursor.decodeVersion("messages", options.cursor)
      const conversation = yield* findConversation(conversationId, options.installationIds)
      const rows = yield* sql<MessageRow>`
        SELECT ${messageColumns} FROM rm_messages
        WHERE conversation_id = ${conversation.id}::uuid AND stream_version > ${after}
        ORDER BY stream_version
        LIMIT ${limit + 1}
      `
      return toPage(rows.map(toMessage), limit, (last) => PageCursor.encodeVersion("messages", last.position))
    })

    const findMessage = (messageId: string, scope: InstallationScope, conversationId?: string) =>
      Effect.gen(function* () {
        const id = decodeMessageId(messageId)
        if (Option.isNone(id)) return yield* new MessageNotFound({ messageId })
        const rows = yield* sql<MessageRow>`
          SELECT ${messageColumns} FROM rm_messages
          WHERE message_id = ${id.value}::uuid AND ${visible(scope)}
            AND ${conversationId === undefined ? sql`TRUE` : sql`conversation_id = ${conversationId}::uuid`}
        `
        const row = rows[0]
        if (row === undefined) return yield* new MessageNotFound({ messageId })
        return toMessage(row)
      })

    const getMessage = Effect.fn("ConversationHistory.getMessage")(
      (messageId: string, installationIds: InstallationScope) => findMessage(messageId, installationIds)
    )

    const listDeliveryAttempts = Effect.fn("ConversationHistory.listDeliveryAttempts")(function* (
      conversationId: string,
      options: PageOptions & { readonly messageId?: string | undefined }
    ) {
      const limit = pageSize(options.limit)
      const after =
        options.cursor === undefined ? 0 : yield* PageCursor.decodeVersion("attempts", options.cursor)
      const conversation = yield* findConversation(conversationId, options.installationIds)
      const message =
        options.messageId === undefined
          ? undefined
          : yield* findMessage(options.messageId, options.installationIds, conversation.id)
      const rows = yield* sql<AttemptRow>`
        SELECT conversation_id::text AS conversation_id, message_id::text AS message_id, stream_version,
               attempt, outcome, status, error, duration_ms, next_attempt_at, at
        FROM rm_delivery_attempts
        WHERE conversation_id = ${conversation.id}::uuid AND stream_version > ${after}
          AND ${message === undefined ? sql`TRUE` : sql`message_id = ${message.id}::uuid`}
        ORDER BY stream_version
        LIMIT ${limit + 1}
      `
      return toPage(rows.map(toAttempt), limit, (last) => PageCursor.encodeVersion("attempts", last.position))
    })

    const readEvents = Effect.fn("ConversationHistory.readEvents")(function* (
      conversationId: string,
      options: PageOptions & { readonly fromVersion?: number | undefined }
    ) {
      const limit = pageSize(options.limit)
      const after =
        options.cursor === undefined
          ? Math.max(0, Math.trunc(options.fromVersion ?? 1) - 1)
          : yield* PageCursor.decodeVersion("events", options.cursor)
      const id = decodeConversationId(conversationId)
      if (Option.isNone(id)) return yield* new ConversationNotFound({ conversationId })
      const owner = yield* owners.ownerOf(id.value)
      if (Option.isNone(owner) || !allows(options.installationIds, owner.value)) {
        return yield* new ConversationNotFound({ conversationId })
      }
      const recorded = yield* store
        .readStream(conversationStream(id.value), after + 1)
        .pipe(Stream.take(limit + 1), Stream.runCollect)
      const events = recorded.map((event) => StoredEvent.fromRecorded(event))
      return toPage(events, limit, (last) => PageCursor.encodeVersion("events", last.version))
    })

    return ConversationHistory.of({
      listConversations,
      getConversation,
      listMessages,
      getMessage,
      listDeliveryAttempts,
      readEvents
    })
  })
}
