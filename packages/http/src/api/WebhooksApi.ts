import { Storable } from "@messaging-api/domain"
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { Conflict, ServiceUnavailable } from "./ApiErrors.ts"
import { Authentication } from "./Authentication.ts"
import { RequestDeadline } from "./RequestDeadline.ts"
import { RequestValidation } from "./RequestValidation.ts"
import { WebhookAccess } from "./WebhookAccess.ts"

/** Ids and types: up to this many characters. */
export const MAX_ID_LENGTH = 256

const RequiredString = (description: string) =>
  Schema.NonEmptyString.check(Storable.isStorableText).annotate({ description })

/** One of the application's ids: not blank, at most `MAX_ID_LENGTH` characters. */
const ExternalId = (description: string) =>
  RequiredString(description).check(
    Schema.makeFilter((value: string) => (value.trim() === "" ? "must not be blank" : undefined)),
    Schema.isMaxLength(MAX_ID_LENGTH)
  )

/** The body the original integration documents, field for field. */
export const WebhookMessage = Schema.Struct({
  userId: ExternalId("The application's id for the user."),
  messageId: ExternalId("The application's id for the message: the idempotency key."),
  conversationId: ExternalId("The application's id for the conversation; echoed back on every reply."),
  type: RequiredString("`text`, or another message type.").check(Schema.isMaxLength(MAX_ID_LENGTH)),
  text: RequiredString("The message text, or a summary of the payload for other types."),
  payload: Schema.optionalKey(
    Storable.StorableJson.annotate({
      description:
        "Any JSON, nested at most 64 levels. Absent: `{ text }`. An object without `text` gets `text` added."
    })
  )
}).annotate({ identifier: "WebhookMessage" })
export type WebhookMessage = typeof WebhookMessage.Type

const Tags = Schema.Struct({ id: Schema.String })

/** Our ids for the message, its user and its conversation; `tags.id` holds the caller's id, as in Botpress. */
export const ReceivedMessage = Schema.Struct({
  message: Schema.Struct({
    id: Schema.String,
    messageId: Schema.String,
    conversationId: Schema.String,
    userId: Schema.String,
    type: Schema.String,
    text: Schema.String,
    payload: Schema.Json,
    tags: Tags
  }),
  user: Schema.Struct({ id: Schema.String, tags: Tags }),
  conversation: Schema.Struct({ id: Schema.String, tags: Tags }),
  duplicate: Schema.optionalKey(Schema.Literal(true))
}).annotate({ identifier: "ReceivedMessage" })
export type ReceivedMessage = typeof ReceivedMessage.Type

export class WebhooksApi extends HttpApiGroup.make("webhooks")
  .add(
    HttpApiEndpoint.post("receive", "/webhooks/:webhookId", {
      params: { webhookId: Schema.String },
      payload: WebhookMessage,
      success: ReceivedMessage,
      error: [Conflict, ServiceUnavailable]
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Send a user message to the bot",
        description:
          "Answers once the message is durable. Repeating a messageId with the same body answers the " +
          "original ids with `duplicate: true`; with another body, 409."
      })
    )
  )
  .middleware(RequestValidation)
  .middleware(RequestDeadline)
  .middleware(WebhookAccess)
  .middleware(Authentication)
  .annotateMerge(OpenApi.annotations({ title: "Webhooks", description: "The inbound contract." })) {}
