import { Storable } from "@messaging-api/domain"
import { Duration, Effect, Option, Predicate, Schema, SchemaGetter, SchemaIssue } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
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

/**
 * The body the original integration documents, field for field. Fields beyond these are ignored,
 * as the original ignores them (its zod object strips unknown keys), so a back end written for it
 * works unchanged; every other request body of this API refuses them (`Api`).
 */
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
}).annotate({
  identifier: "WebhookMessage",
  description:
    "Fields beyond these are ignored (as by the original integration): they are neither stored nor part of " +
    "the idempotency check."
})
export type WebhookMessage = typeof WebhookMessage.Type

/**
 * `/openapi.json` as the webhook behaves: its body takes fields beyond the documented ones (and
 * ignores them). Every struct is written closed (`additionalProperties: false`) otherwise.
 */
export const openWebhookMessage = <Spec extends Record<string, unknown>>(spec: Spec): Spec => {
  const components = spec.components
  const schemas = Predicate.isObject(components) && "schemas" in components ? components.schemas : undefined
  const schema =
    Predicate.isObject(schemas) && "WebhookMessage" in schemas ? schemas.WebhookMessage : undefined
  if (Predicate.isObject(schema)) Object.assign(schema, { additionalProperties: true })
  return spec
}

/** The longest `?wait=`. */
export const MAX_WAIT = Duration.seconds(30)

/** `5s`, `1500ms`, `2.5s`, `5` (seconds), or Effect's `5 seconds`: at most 30 seconds. */
export const parseWait = (input: string): Duration.Duration | string => {
  const trimmed = input.trim()
  const short = /^(\d+(?:\.\d+)?)\s*(ms|s)?$/i.exec(trimmed)
  const parsed = short
    ? Option.some(Duration.millis(Number(short[1]) * (short[2]?.toLowerCase() === "ms" ? 1 : 1000)))
    : Duration.fromInput(trimmed as Duration.Input)
  if (Option.isNone(parsed) || !Duration.isFinite(parsed.value)) {
    return "must be a duration such as 5s or 1500ms"
  }
  return Duration.isGreaterThan(parsed.value, MAX_WAIT) ? "must be at most 30s" : parsed.value
}

/** `?wait=`: how long to wait for the bot's replies to this message. */
export const WaitDuration = Schema.String.pipe(
  Schema.decodeTo(Schema.Duration, {
    decode: SchemaGetter.transformEffect((input: string) => {
      const parsed = parseWait(input)
      return typeof parsed === "string"
        ? Effect.fail(new SchemaIssue.InvalidValue({ message: parsed }, input))
        : Effect.succeed(parsed)
    }),
    encode: SchemaGetter.transform((duration: Duration.Duration) => `${Duration.toMillis(duration)}ms`)
  })
).annotate({
  description:
    "Wait up to this long (at most 30s: `5s`, `1500ms`) for the bot's replies to this message and answer " +
    "them in `replies`."
})

/** One bot message of the turn, as `?wait=` answers it. */
export const Reply = Schema.Struct({
  botpressMessageId: Schema.String,
  type: Schema.String,
  payload: Schema.Json
}).annotate({ identifier: "Reply" })
export type Reply = typeof Reply.Type

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
  duplicate: Schema.optionalKey(Schema.Literal(true)),
  /** With `?wait=`: the bot messages of this user message produced within the wait, in order. */
  replies: Schema.optionalKey(Schema.Array(Reply))
}).annotate({ identifier: "ReceivedMessage" })
export type ReceivedMessage = typeof ReceivedMessage.Type

export class WebhooksApi extends HttpApiGroup.make("webhooks")
  .add(
    HttpApiEndpoint.post("receive", "/webhooks/:webhookId", {
      params: { webhookId: Schema.String },
      query: { wait: Schema.optionalKey(WaitDuration) },
      payload: WebhookMessage,
      success: ReceivedMessage,
      error: [Conflict, ServiceUnavailable]
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Send a user message to the bot",
        description:
          "Answers once the message is durable. Repeating a messageId with the same body answers the " +
          "original ids with `duplicate: true`; with another body, 409. With `?wait=5s` (at most 30s) it also " +
          "answers `replies`: the bot messages of this message produced within the wait, in order (a " +
          "duplicate answers the original's). They are delivered to the response endpoint as usual."
      })
    )
  )
  // Extra fields are ignored here (the rest of the API refuses them); every bad field is named.
  .annotate(HttpApi.PayloadParseOptions, { errors: "all", onExcessProperty: "ignore" })
  .middleware(RequestValidation)
  .middleware(RequestDeadline)
  .middleware(WebhookAccess)
  .middleware(Authentication)
  .annotateMerge(OpenApi.annotations({ title: "Webhooks", description: "The inbound contract." })) {}
