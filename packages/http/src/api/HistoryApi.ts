import { ReadModels } from "@messaging-api/domain"
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { InvalidRequest, NotFound, ServiceUnavailable, TooManyRequests } from "./ApiErrors.ts"
import { Authentication } from "./Authentication.ts"
import { RequestDeadline } from "./RequestDeadline.ts"
import { RequestValidation } from "./RequestValidation.ts"

/**
 * Conversation history for any valid token, limited to the installations the token may use:
 * conversations, their messages, delivery attempts and raw events, a page at a time, and the
 * events live as Server-Sent Events. Whatever lies outside the token's installations answers 404,
 * exactly like something that does not exist.
 */

export const ConversationPage = ReadModels.Page(ReadModels.ConversationSummary).annotate({
  identifier: "ConversationPage"
})
export const MessagePage = ReadModels.Page(ReadModels.MessageRecord).annotate({ identifier: "MessagePage" })
export const AttemptPage = ReadModels.Page(ReadModels.DeliveryAttempt).annotate({ identifier: "AttemptPage" })
export const EventPage = ReadModels.Page(ReadModels.StoredEvent).annotate({ identifier: "EventPage" })

/** One event of the installation-wide stream: a stored event and the conversation it belongs to. */
export const InstallationEvent = Schema.Struct({
  conversationId: Schema.String,
  ...ReadModels.StoredEvent.fields
}).annotate({ identifier: "InstallationEvent" })
export type InstallationEvent = typeof InstallationEvent.Type

/** `id:` the stream version (send it back as `Last-Event-ID`), `event:` the event type. */
export const ConversationSseEvent = Schema.Struct({
  id: Schema.String,
  event: Schema.String,
  data: Schema.fromJsonString(ReadModels.StoredEvent)
})

/** `id:` an opaque place in the global log (send it back as `Last-Event-ID`), `event:` the event type. */
export const InstallationSseEvent = Schema.Struct({
  id: Schema.String,
  event: Schema.String,
  data: Schema.fromJsonString(InstallationEvent)
})

export const ConversationEventStream = HttpApiSchema.StreamSse({ events: ConversationSseEvent })
export const InstallationEventStream = HttpApiSchema.StreamSse({ events: InstallationSseEvent })

const cursor = Schema.optionalKey(
  Schema.String.annotate({ description: "The `nextCursor` of the previous page; absent for the first page." })
)
const limit = Schema.optionalKey(
  Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: ReadModels.maxPageSize })).annotate({
    description: `Items per page, 1 to ${ReadModels.maxPageSize}; ${ReadModels.defaultPageSize} when absent.`
  })
)
const conversationId = { conversationId: Schema.String }
const lastEventId = Schema.optionalKey(
  Schema.String.annotate({
    description: "Resume after this event id, for clients that cannot send the `Last-Event-ID` header."
  })
)
/** Declared so that the typed client can ask for the stream and resume it. */
const streamHeaders = {
  accept: Schema.optionalKey(Schema.String),
  "last-event-id": Schema.optionalKey(Schema.String)
}
const errors = [InvalidRequest, NotFound, ServiceUnavailable]
/** A live stream may also be refused for the token's streams already open (`MAX_STREAMS_PER_TOKEN`). */
const streamErrors = [InvalidRequest, NotFound, TooManyRequests, ServiceUnavailable]

export class HistoryApi extends HttpApiGroup.make("history")
  .add(
    HttpApiEndpoint.get("listConversations", "/v1/conversations", {
      query: {
        installationId: Schema.optionalKey(
          Schema.String.annotate({ description: "Only this installation's conversations." })
        ),
        externalConversationId: Schema.optionalKey(
          Schema.String.annotate({
            description:
              "Only the conversations with this id of the caller's (the webhook's `conversationId`)."
          })
        ),
        cursor,
        limit
      },
      success: ConversationPage,
      error: errors
    }).annotateMerge(
      OpenApi.annotations({
        summary: "List conversations, newest first",
        description:
          "Only the token's installations. An `installationId` the token may not use answers 404, like an " +
          "unknown one."
      })
    ),
    HttpApiEndpoint.get("getConversation", "/v1/conversations/:conversationId", {
      params: conversationId,
      success: ReadModels.ConversationSummary,
      error: errors
    }).annotateMerge(OpenApi.annotations({ summary: "Get one conversation" })),
    HttpApiEndpoint.get("listMessages", "/v1/conversations/:conversationId/messages", {
      params: conversationId,
      query: { cursor, limit },
      success: MessagePage,
      error: errors
    }).annotateMerge(
      OpenApi.annotations({
        summary: "List a conversation's messages",
        description:
          "User and bot messages in conversation order: a user message with its bot turn, a bot message " +
          "with its delivery status."
      })
    ),
    HttpApiEndpoint.get("listAttempts", "/v1/conversations/:conversationId/attempts", {
      params: conversationId,
      query: {
        messageId: Schema.optionalKey(
          Schema.String.annotate({ description: "Only this bot message's attempts." })
        ),
        cursor,
        limit
      },
      success: AttemptPage,
      error: errors
    }).annotateMerge(OpenApi.annotations({ summary: "List a conversation's delivery attempts, in order" })),
    HttpApiEndpoint.get("conversationEvents", "/v1/conversations/:conversationId/events", {
      params: conversationId,
      query: {
        fromVersion: Schema.optionalKey(
          Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
            description:
              "JSON page: the first stream version to return (1 when absent); a cursor overrides it."
          })
        ),
        cursor,
        limit,
        lastEventId
      },
      headers: streamHeaders,
      success: [EventPage, ConversationEventStream],
      error: streamErrors
    }).annotateMerge(
      OpenApi.annotations({
        summary: "A conversation's raw events: a JSON page, or live as Server-Sent Events",
        description:
          "With `Accept: text/event-stream`, a Server-Sent Events stream: every event after `Last-Event-ID` " +
          "(the stream version; `lastEventId` in the query for clients that cannot send headers), then each " +
          "new event as it is committed, with `: heartbeat` comments while idle. A reconnecting client that " +
          "sends the last id it saw misses nothing and sees nothing twice. Otherwise a JSON page of events in " +
          "stream order."
      })
    ),
    HttpApiEndpoint.get("installationEvents", "/v1/installations/:installationId/events", {
      params: { installationId: Schema.String },
      query: { lastEventId },
      headers: streamHeaders,
      success: InstallationEventStream,
      error: streamErrors
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Every event of an installation's conversations, live as Server-Sent Events",
        description:
          "Each event's `id` is an opaque place in the global log: send it back as `Last-Event-ID` to resume " +
          "exactly after it. Without one, the stream starts with the events committed from now on."
      })
    )
  )
  .middleware(RequestValidation)
  .middleware(RequestDeadline)
  .middleware(Authentication)
  .annotateMerge(
    OpenApi.annotations({
      title: "History",
      description:
        "Any valid token, limited to the installations it may use; the rest answers 404, like what does not exist."
    })
  ) {}
