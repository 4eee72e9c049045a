import { Context, Effect, Layer, Option, Schema, Stream } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { ConversationOwners } from "./ConversationOwners.ts"
import { EventStore } from "./EventStore.ts"
import {
  AttemptRow,
  attemptColumns,
  ConversationRow,
  conversationColumns,
  MessageRow,
  messageColumns
} from "./HistoryRows.ts"
import { ConversationId, conversationStream, MessageId } from "./Ids.ts"
import { allows, InstallationScope, sqlFilter } from "./InstallationScope.ts"
import * as OwnRows from "./OwnRows.ts"
import * as PageCursor from "./PageCursor.ts"
import {
  ConversationNotFound,
  type ConversationSummary,
  type DeliveryAttempt,
  defaultPageSize,
  type InvalidCursor,
  MessageNotFound,
  type MessageRecord,
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

/** Splits the `limit + 1` rows a page query read into the page and the cursor of the next one. */
const toPage = <A>(items: ReadonlyArray<A>, limit: number, cursorOf: (last: A) => string): Page<A> => {
  if (items.length <= limit) return { items, nextCursor: null }
  const page = items.slice(0, limit)
  return { items: page, nextCursor: cursorOf(page[page.length - 1]!) }
}

/** A scope as the queries take it: already decoded. */
const Scope = Schema.toType(InstallationScope)

function make() {
  return Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const store = yield* EventStore
    const owners = yield* ConversationOwners

    const visible = (scope: InstallationScope) => sqlFilter(sql, scope)

    const conversationsPage = OwnRows.findAll({
      Request: Schema.Struct({
        scope: Scope,
        externalConversationId: Schema.UndefinedOr(Schema.String),
        after: Schema.UndefinedOr(Schema.Struct({ t: Schema.String, id: Schema.String })),
        limit: Schema.Int
      }),
      Result: ConversationRow,
      execute: ({ after, externalConversationId, limit, scope }) => sql`
        SELECT ${conversationColumns(sql)} FROM rm_conversations
        WHERE ${visible(scope)}
          AND ${externalConversationId === undefined ? sql`TRUE` : sql`external_conversation_id = ${externalConversationId}`}
          AND ${
            after === undefined
              ? sql`TRUE`
              : sql`(started_at, conversation_id) < (${after.t}::timestamptz, ${after.id}::uuid)`
          }
        ORDER BY started_at DESC, conversation_id DESC
        LIMIT ${limit + 1}
      `
    })
    const conversationById = OwnRows.findOneOption({
      Request: Schema.Struct({ id: Schema.toType(ConversationId), scope: Scope }),
      Result: ConversationRow,
      execute: ({ id, scope }) => sql`
        SELECT ${conversationColumns(sql)} FROM rm_conversations
        WHERE conversation_id = ${id}::uuid AND ${visible(scope)}
      `
    })
    const messagesPage = OwnRows.findAll({
      Request: Schema.Struct({
        conversationId: Schema.toType(ConversationId),
        after: Schema.Int,
        limit: Schema.Int
      }),
      Result: MessageRow,
      execute: ({ after, conversationId, limit }) => sql`
        SELECT ${messageColumns(sql)} FROM rm_messages
        WHERE conversation_id = ${conversationId}::uuid AND stream_version > ${after}
        ORDER BY stream_version
        LIMIT ${limit + 1}
      `
    })
    const messageById = OwnRows.findOneOption({
      Request: Schema.Struct({
        id: Schema.toType(MessageId),
        scope: Scope,
        conversationId: Schema.UndefinedOr(Schema.toType(ConversationId))
      }),
      Result: MessageRow,
      execute: ({ conversationId, id, scope }) => sql`
        SELECT ${messageColumns(sql)} FROM rm_messages
        WHERE message_id = ${id}::uuid AND ${visible(scope)}
          AND ${conversationId === undefined ? sql`TRUE` : sql`conversation_id = ${conversationId}::uuid`}
      `
    })
    const attemptsPage = OwnRows.findAll({
      Request: Schema.Struct({
        conversationId: Schema.toType(ConversationId),
        messageId: Schema.UndefinedOr(Schema.toType(MessageId)),
        after: Schema.Int,
        limit: Schema.Int
      }),
      Result: AttemptRow,
      execute: ({ after, conversationId, limit, messageId }) => sql`
        SELECT ${attemptColumns(sql)} FROM rm_delivery_attempts
        WHERE conversation_id = ${conversationId}::uuid AND stream_version > ${after}
          AND ${messageId === undefined ? sql`TRUE` : sql`message_id = ${messageId}::uuid`}
        ORDER BY stream_version
        LIMIT ${limit + 1}
      `
    })

    const listConversations = Effect.fn("ConversationHistory.listConversations")(function* (
      options: PageOptions & { readonly externalConversationId?: string | undefined }
    ) {
      const limit = pageSize(options.limit)
      const after = options.cursor === undefined ? undefined : yield* PageCursor.decodeTime(options.cursor)
      const rows = yield* conversationsPage({
        scope: options.installationIds,
        externalConversationId: options.externalConversationId,
        after,
        limit
      })
      return toPage(rows, limit, (last) => PageCursor.encodeTime({ t: last.startedAt, id: last.id }))
    })

    const findConversation = (conversationId: string, scope: InstallationScope) =>
      Effect.gen(function* () {
        const id = decodeConversationId(conversationId)
        if (Option.isNone(id)) return yield* new ConversationNotFound({ conversationId })
        const row = yield* conversationById({ id: id.value, scope })
        if (Option.isNone(row)) return yield* new ConversationNotFound({ conversationId })
        return row.value
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
      const rows = yield* messagesPage({ conversationId: conversation.id, after, limit })
      return toPage(rows, limit, (last) => PageCursor.encodeVersion("messages", last.position))
    })

    const findMessage = (messageId: string, scope: InstallationScope, conversationId?: ConversationId) =>
      Effect.gen(function* () {
        const id = decodeMessageId(messageId)
        if (Option.isNone(id)) return yield* new MessageNotFound({ messageId })
        const row = yield* messageById({ id: id.value, scope, conversationId })
        if (Option.isNone(row)) return yield* new MessageNotFound({ messageId })
        return row.value
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
      const rows = yield* attemptsPage({
        conversationId: conversation.id,
        messageId: message?.id,
        after,
        limit
      })
      return toPage(rows, limit, (last) => PageCursor.encodeVersion("attempts", last.position))
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
