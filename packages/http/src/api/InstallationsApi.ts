import { EndpointHealth, Installation, RetrySchedule } from "@messaging-api/domain"
import { Effect, Schema, SchemaGetter, SchemaIssue } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { InvalidRequest, NotFound, ServiceUnavailable } from "./ApiErrors.ts"
import { AdminOnly, Authentication } from "./Authentication.ts"
import { RequestDeadline } from "./RequestDeadline.ts"
import { RequestValidation } from "./RequestValidation.ts"

/** `"1s,5s,30s"`, as on the command line. */
export const RetryScheduleString = Schema.String.pipe(
  Schema.decodeTo(RetrySchedule.RetrySchedule, {
    decode: SchemaGetter.transformEffect((input: string) => {
      const parsed = RetrySchedule.parseRetrySchedule(input)
      return parsed instanceof RetrySchedule.InvalidRetrySchedule
        ? Effect.fail(new SchemaIssue.InvalidValue({ message: parsed.message }, input))
        : Effect.succeed(parsed)
    }),
    encode: SchemaGetter.transform(RetrySchedule.formatRetrySchedule)
  })
)

export const CreateInstallation = Schema.Struct({
  bot: Installation.BotConfig.annotate({
    description:
      'Who answers: `{"_tag":"echo"}`, `{"_tag":"http","url",…}` or `{"_tag":"llm","baseUrl","model",' +
      '"apiKey"?,"system"?,"historyMessages"?}` (an OpenAI-compatible chat-completions model; `apiKey` is write-only).'
  }),
  responseUrl: Schema.NullOr(Installation.HttpUrl).annotate({
    description:
      "Where bot messages are POSTed, signed. null: pull-only (nothing is POSTed; replies are read from the " +
      "webhook's answer with ?wait=, the history API or the live streams)."
  }),
  retrySchedule: Schema.optionalKey(
    Schema.Union([RetryScheduleString, RetrySchedule.RetrySchedule]).annotate({
      description:
        'Waits between delivery attempts: "1s,5s,30s" or milliseconds. Default: 5s, 5m, 30m, 2h, 5h, 10h, 10h.'
    })
  ),
  skipVerify: Schema.optionalKey(
    Schema.Boolean.annotate({ description: "Create without POSTing the test message to responseUrl." })
  )
}).annotate({ identifier: "CreateInstallation" })
export type CreateInstallation = typeof CreateInstallation.Type

// An llm bot's key is write-only: a view says whether one is set, never what it is.
const { apiKey: _apiKey, ...llmShownFields } = Installation.LlmBotConfig.fields

/** The bot config as the API and the CLI show it. */
export const BotView = Schema.Union([
  Schema.TaggedStruct("echo", {}),
  Schema.TaggedStruct("http", { url: Schema.String, timeoutMs: Schema.optionalKey(Schema.Int) }),
  Schema.TaggedStruct("llm", {
    ...llmShownFields,
    apiKey: Schema.optionalKey(
      Schema.Literal("set").annotate({
        description: "Present when the bot has a key; the key is never shown."
      })
    )
  })
]).annotate({ identifier: "BotView" })
export type BotView = typeof BotView.Type

/** What may be shown of a bot config: all of it but an llm bot's key. */
export const botView = (bot: Installation.BotConfig): BotView => {
  if (bot._tag !== "llm") return bot
  const { apiKey, ...shown } = bot
  return apiKey === undefined ? shown : { ...shown, apiKey: "set" }
}

// A rotated-out signing secret is never shown again: only until when it still signs.
const { previousSigningSecret: _, bot: _bot, ...shownFields } = Installation.Installation.fields

export const InstallationView = Schema.Struct({
  ...shownFields,
  bot: BotView,
  previousSecretExpiresAt: Schema.optionalKey(
    Schema.String.annotate({
      description:
        "After a secret rotation: until when (ISO-8601) requests also carry a signature with the previous secret."
    })
  ),
  /** Where the application POSTs user messages. */
  webhookUrl: Schema.String,
  endpoint: EndpointHealth.EndpointStatus.annotate({
    description:
      "The response endpoint's health: `failing` since its first failed attempt after the last success; " +
      "`paused` once it has failed for ENDPOINT_PAUSE_AFTER (deliveries held until resumed)."
  })
}).annotate({ identifier: "Installation" })
export type InstallationView = typeof InstallationView.Type

/** What `POST /v1/installations/{id}/rotate-secret` answers: the new secret. */
export const RotatedSecret = Schema.Struct({
  signingSecret: Schema.String.annotate({ description: "The new `whsec_…` secret, signing from now on." })
}).annotate({ identifier: "RotatedSecret" })
export type RotatedSecret = typeof RotatedSecret.Type

const id = { id: Schema.String }

export class InstallationsApi extends HttpApiGroup.make("installations")
  .add(
    HttpApiEndpoint.post("create", "/", {
      payload: CreateInstallation,
      success: InstallationView.pipe(HttpApiSchema.status(201)),
      error: [InvalidRequest, ServiceUnavailable]
    }),
    HttpApiEndpoint.get("list", "/", {
      success: Schema.Array(InstallationView),
      error: ServiceUnavailable
    }),
    HttpApiEndpoint.get("get", "/:id", {
      params: id,
      success: InstallationView,
      error: [NotFound, ServiceUnavailable]
    }),
    HttpApiEndpoint.delete("delete", "/:id", {
      params: id,
      error: [NotFound, ServiceUnavailable]
    }),
    HttpApiEndpoint.post("rotateSecret", "/:id/rotate-secret", {
      params: id,
      success: RotatedSecret.pipe(HttpApiSchema.status(201)),
      error: [NotFound, ServiceUnavailable]
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Replace the signing secret",
        description:
          "Answers the new secret. For SECRET_ROTATION_OVERLAP (24 hours by default) every delivery and http-bot " +
          "request carries two signatures, `webhook-signature: v1,<new> v1,<old>`, then only the new one. A " +
          "rotation during an overlap drops the oldest secret: the one it replaces becomes the old one."
      })
    ),
    HttpApiEndpoint.post("resume", "/:id/resume", {
      params: id,
      success: InstallationView,
      error: [NotFound, ServiceUnavailable]
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Resume a paused response endpoint",
        description:
          "Ends the pause (and the failing period): every held delivery is sent again, in order per " +
          "conversation, within about a second. Answers the installation with its endpoint healthy; " +
          "resuming an endpoint that is not paused changes nothing but its failing period."
      })
    )
  )
  .middleware(RequestValidation)
  .middleware(RequestDeadline)
  .middleware(AdminOnly)
  .middleware(Authentication)
  .prefix("/v1/installations")
  .annotateMerge(OpenApi.annotations({ title: "Installations", description: "Admin tokens only." })) {}
