import { Context, type Duration, Layer } from "effect"

/** At most `limit` per `window`, with a burst of as many. */
export interface RateLimit {
  readonly limit: number
  readonly window: Duration.Input
}

export interface HttpSettingsShape {
  /** Where clients reach this service: webhook URLs are built from it (`PUBLIC_URL`). */
  readonly publicUrl: string
  /** Request bodies above this many bytes are refused with 413. */
  readonly maxBodyBytes: number
  /** How often an idle event stream (SSE) sends a `: heartbeat` comment, so proxies keep it open. */
  readonly heartbeatInterval: Duration.Input
  /** The shortest wait a retry schedule may ask for (`MIN_RETRY_DELAY`). */
  readonly minRetryDelay: Duration.Input
  /** Live streams one token may hold open at once (`MAX_STREAMS_PER_TOKEN`); the next is refused with 429. */
  readonly maxStreamsPerToken: number
  /** Webhook requests per access token (`RATE_LIMIT_PER_TOKEN`); undefined: no limit. */
  readonly rateLimitPerToken: RateLimit | undefined
  /** Failed authentications per client address (`AUTH_FAILURES_PER_IP`); undefined: no limit. */
  readonly authFailuresPerIp: RateLimit | undefined
  /** How long a rotated-out signing secret keeps signing beside the new one (`SECRET_ROTATION_OVERLAP`). */
  readonly secretRotationOverlap: Duration.Input
  /** How long a request may wait on the database before it is answered 503 (`DATABASE_STATEMENT_TIMEOUT`); undefined: no limit. */
  readonly databaseTimeout: Duration.Input | undefined
  /** `GET /metrics` answers without a token (`METRICS_PUBLIC`); otherwise it needs an admin token. */
  readonly metricsPublic: boolean
}

export const defaultSettings: HttpSettingsShape = {
  publicUrl: "http://localhost:3000",
  maxBodyBytes: 1024 * 1024,
  heartbeatInterval: "15 seconds",
  minRetryDelay: "1 second",
  maxStreamsPerToken: 20,
  rateLimitPerToken: { limit: 100, window: "1 second" },
  authFailuresPerIp: { limit: 20, window: "1 second" },
  secretRotationOverlap: "24 hours",
  databaseTimeout: "5 seconds",
  metricsPublic: false
}

/** The HTTP surface's settings; port and host belong to whoever serves it. */
export const HttpSettings = Context.Reference<HttpSettingsShape>("@messaging-api/http/HttpSettings", {
  defaultValue: () => defaultSettings
})

export const layer = (settings: Partial<HttpSettingsShape>): Layer.Layer<never> =>
  Layer.succeed(HttpSettings, { ...defaultSettings, ...settings })

/** The webhook URL of an installation, as its callers see it. */
export const webhookUrl = (settings: HttpSettingsShape, webhookId: string): string =>
  `${settings.publicUrl.replace(/\/+$/, "")}/webhooks/${webhookId}`
