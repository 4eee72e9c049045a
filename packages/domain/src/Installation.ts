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

/** Which bot answers an installation's conversations. */
export const BotConfig = Schema.Union([
  Schema.TaggedStruct("echo", {}),
  Schema.TaggedStruct("http", {
    url: HttpUrl,
    timeoutMs: Schema.optionalKey(Schema.Int)
  })
])
export type BotConfig = typeof BotConfig.Type

export class Installation extends Schema.Class<Installation>("Installation")({
  id: InstallationId,
  /** The last path segment of the installation's webhook URL: `POST /webhooks/{webhookId}`. */
  webhookId: Schema.String,
  bot: BotConfig,
  responseUrl: HttpUrl,
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
