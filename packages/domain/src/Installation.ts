import { Schema } from "effect"
import { InstallationId } from "./Ids.ts"
import { RetrySchedule } from "./RetrySchedule.ts"

/** An http(s) URL: response endpoints and bot URLs must be one. */
export const HttpUrl = Schema.String.check(
  Schema.makeFilter((value: string) => {
    try {
      const url = new URL(value)
      return url.protocol === "http:" || url.protocol === "https:" ? undefined : "must be an http(s) URL"
    } catch {
      return "must be an absolute http(s) URL"
    }
  })
)

/** How many messages of its conversation an llm bot sees when `historyMessages` is not given. */
export const DEFAULT_HISTORY_MESSAGES = 20

/** The most `historyMessages` an llm bot may ask for. */
export const MAX_HISTORY_MESSAGES = 200

/**
 * An OpenAI-compatible chat-completions bot (OpenAI, Groq, Hugging Face TGI, vLLM, Ollama).
 * `baseUrl` is the API root the provider documents (`…/v1`): requests go to
 * `{baseUrl}/chat/completions`. `apiKey` is write-only: held `Redacted` once decoded (so no log
 * line, trace or error shows it) and never part of any view.
 */
export const LlmBotConfig = Schema.TaggedStruct("llm", {
  baseUrl: HttpUrl,
  model: Schema.NonEmptyString,
  apiKey: Schema.optionalKey(Schema.RedactedFromValue(Schema.NonEmptyString)),
  /** A system prompt sent before the conversation's messages. */
  system: Schema.optionalKey(Schema.String),
  /** How many of the conversation's latest user and bot messages are sent (default 20). */
  historyMessages: Schema.optionalKey(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: MAX_HISTORY_MESSAGES }))
  ),
  timeoutMs: Schema.optionalKey(Schema.Int)
})
export type LlmBotConfig = typeof LlmBotConfig.Type

/** Which bot answers an installation's conversations. */
export const BotConfig = Schema.Union([
  Schema.TaggedStruct("echo", {}),
  Schema.TaggedStruct("http", {
    url: HttpUrl,
    timeoutMs: Schema.optionalKey(Schema.Int)
  }),
  LlmBotConfig
])
export type BotConfig = typeof BotConfig.Type

/** The bot config as stored (JSON): an llm bot's `apiKey` in the clear, for the service alone. */
export const encodeBotConfig = Schema.encodeSync(BotConfig)

export class Installation extends Schema.Class<Installation>("Installation")({
  id: InstallationId,
  /** The last path segment of the installation's webhook URL: `POST /webhooks/{webhookId}`. */
  webhookId: Schema.String,
  bot: BotConfig,
  /** Where bot messages are POSTed; null for a pull-only installation (nothing is POSTed). */
  responseUrl: Schema.NullOr(HttpUrl),
  /** `whsec_` + base64 of 32 random bytes (Standard Webhooks). */
  signingSecret: Schema.String,
  /**
   * The secret the last rotation replaced: requests are signed with it too (after the current
   * one) until `previousSecretExpiresAt`. Never shown by the admin API.
   */
  previousSigningSecret: Schema.optionalKey(Schema.String),
  /** Until when (ISO-8601) `previousSigningSecret` still signs. */
  previousSecretExpiresAt: Schema.optionalKey(Schema.String),
  retrySchedule: RetrySchedule,
  createdAt: Schema.String
}) {}

/**
 * The secrets a request is signed with at `now` (milliseconds since the epoch): the current one,
 * then the previous one while its overlap lasts. A receiver that knows either verifies it.
 */
export const signingSecrets = (installation: Installation, now: number): ReadonlyArray<string> =>
  installation.previousSigningSecret !== undefined &&
  installation.previousSecretExpiresAt !== undefined &&
  Date.parse(installation.previousSecretExpiresAt) > now
    ? [installation.signingSecret, installation.previousSigningSecret]
    : [installation.signingSecret]
