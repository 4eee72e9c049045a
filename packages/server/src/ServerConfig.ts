import { AccessTokens, EndpointGuard } from "@messaging-api/domain"
import { Config, Context, Duration, Effect, Layer, type LogLevel, Option, Redacted, Schema } from "effect"
import { type LogFormat, logFormatConfig, logLevelConfig } from "./config/LoggingConfig.ts"
import { type RateLimit, rateLimitConfig } from "./config/RateLimitConfig.ts"
import { type TracingSettings, tracingConfig } from "./config/TracingConfig.ts"

/**
 * Everything the process reads from its environment, parsed once at start. A bad value stops
 * the process with one line naming the variable (see bin.ts), never a stack trace. The parts with
 * conventions of their own are read in `config/`: logging, tracing (OpenTelemetry's variables),
 * rate limits.
 */
export interface ServerConfigShape {
  readonly port: number
  readonly host: string
  /** A real Postgres server; when absent the embedded one runs under `dataDir`. */
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly dataDir: string
  /** The base of webhook URLs handed to applications. */
  readonly publicUrl: string
  readonly logLevel: LogLevel.LogLevel
  /** `json`: one JSON object per line; `pretty`: for a person at a terminal. */
  readonly logFormat: LogFormat
  /** `GET /metrics` answers without a token. */
  readonly metricsPublic: boolean
  /** Where traces go (OTLP over HTTP), when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set. */
  readonly tracing: TracingSettings | undefined
  readonly adminToken: Option.Option<Redacted.Redacted<string>>
  readonly maxBodyBytes: number
  readonly requestTimeout: Duration.Duration
  readonly passivateAfter: Duration.Duration
  /** A response endpoint failing this long without a success is paused (its deliveries held until resumed). */
  readonly endpointPauseAfter: Duration.Duration
  readonly shutdownTimeout: Duration.Duration
  readonly databasePoolSize: number
  readonly sseHeartbeat: Duration.Duration
  /** The shortest wait a retry schedule may ask for. */
  readonly minRetryDelay: Duration.Duration
  /** A client must have sent its request's headers within this, and the whole request within `requestBodyTimeout`. */
  readonly requestHeadersTimeout: Duration.Duration
  readonly requestBodyTimeout: Duration.Duration
  /** Client connections open at once; the server closes any beyond it straight away. */
  readonly maxConnections: number
  /** Live streams one token may hold open at once. */
  readonly maxStreamsPerToken: number
  /** Webhook requests per access token, and failed authentications per client address (undefined: off). */
  readonly rateLimitPerToken: RateLimit | undefined
  readonly authFailuresPerIp: RateLimit | undefined
  /**
   * Special address ranges response endpoints and bots may resolve to (`ALLOWED_ENDPOINT_NETWORKS`);
   * unset with the embedded database: loopback (a local trial), unset otherwise: none.
   */
  readonly allowedEndpointNetworks: ReadonlyArray<string>
  /** Statements and requests waiting on the database longer than this fail with 503. */
  readonly databaseStatementTimeout: Duration.Duration
  /** How long a rotated-out signing secret keeps signing beside the new one. */
  readonly secretRotationOverlap: Duration.Duration
  /** `CLUSTER_PORT`: when set, this process is a runner of a cluster listening there. */
  readonly clusterPort: Option.Option<number>
  /** How the other runners reach this one. */
  readonly clusterAdvertiseHost: string
  /** Shards of the cluster; the same on every runner. */
  readonly clusterShards: number
  /** How long a dead runner's shards stay locked before the others take them. */
  readonly clusterLease: Duration.Duration
}

const PostgresUrl = Schema.String.check(
  Schema.makeFilter((value: string) => {
    try {
      const url = new URL(value)
      return url.protocol === "postgres:" || url.protocol === "postgresql:"
        ? undefined
        : "must be a postgres:// or postgresql:// URL"
    } catch {
      return "must be a URL like postgres://user@host:5432/database"
    }
  })
)

/** Comma-separated CIDR ranges, e.g. `127.0.0.0/8,10.1.0.0/16`. */
const NetworksText = Schema.String.check(
  Schema.makeFilter((text: string) => {
    const parsed = EndpointGuard.parseNetworks(text)
    return typeof parsed === "string" ? parsed : undefined
  })
)

/** Empty (no seeded token) or long enough to be one; checked here so the process stops before it starts anything. */
const AdminTokenText = Schema.String.check(
  Schema.makeFilter((text: string) =>
    text.trim() === "" || text.length >= AccessTokens.minimumSeedLength
      ? undefined
      : `must be at least ${AccessTokens.minimumSeedLength} characters long`
  )
)

export const serverConfig: Config.Config<ServerConfigShape> = Config.all({
  port: Config.Port("PORT").pipe(Config.withDefault(3000)),
  host: Config.String("HOST").pipe(Config.withDefault("0.0.0.0")),
  databaseUrl: Config.schema(PostgresUrl, "DATABASE_URL").pipe(
    Config.option,
    Config.map(Option.filter((url) => url !== "")),
    Config.map(Option.map(Redacted.make))
  ),
  dataDir: Config.String("DATA_DIR").pipe(Config.withDefault(".data")),
  publicUrl: Config.String("PUBLIC_URL").pipe(Config.option),
  logLevel: logLevelConfig,
  logFormat: logFormatConfig,
  metricsPublic: Config.Boolean("METRICS_PUBLIC").pipe(Config.withDefault(false)),
  tracing: tracingConfig,
  adminToken: Config.schema(AdminTokenText, "MESSAGING_API_ADMIN_TOKEN").pipe(
    Config.option,
    Config.map(Option.filter((value) => value.trim() !== "")),
    Config.map(Option.map(Redacted.make))
  ),
  maxBodyBytes: Config.Int("MAX_BODY_BYTES").pipe(Config.withDefault(1024 * 1024)),
  requestTimeout: Config.Duration("DELIVERY_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
  passivateAfter: Config.Duration("PASSIVATE_AFTER").pipe(Config.withDefault(Duration.minutes(1))),
  endpointPauseAfter: Config.Duration("ENDPOINT_PAUSE_AFTER").pipe(Config.withDefault(Duration.days(5))),
  shutdownTimeout: Config.Duration("SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
  databasePoolSize: Config.Int("DATABASE_POOL_SIZE").pipe(Config.withDefault(10)),
  databaseStatementTimeout: Config.Duration("DATABASE_STATEMENT_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(5))
  ),
  sseHeartbeat: Config.Duration("SSE_HEARTBEAT").pipe(Config.withDefault(Duration.seconds(15))),
  minRetryDelay: Config.Duration("MIN_RETRY_DELAY").pipe(Config.withDefault(Duration.seconds(1))),
  requestHeadersTimeout: Config.Duration("REQUEST_HEADERS_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(10))
  ),
  requestBodyTimeout: Config.Duration("REQUEST_BODY_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30))),
  maxStreamsPerToken: Config.Int("MAX_STREAMS_PER_TOKEN").pipe(Config.withDefault(20)),
  maxConnections: Config.Int("MAX_CONNECTIONS").pipe(Config.withDefault(10_000)),
  rateLimitPerToken: rateLimitConfig("RATE_LIMIT_PER_TOKEN", "100/s"),
  authFailuresPerIp: rateLimitConfig("AUTH_FAILURES_PER_IP", "20/s"),
  allowedEndpointNetworks: Config.schema(NetworksText, "ALLOWED_ENDPOINT_NETWORKS").pipe(Config.option),
  secretRotationOverlap: Config.Duration("SECRET_ROTATION_OVERLAP").pipe(
    Config.withDefault(Duration.hours(24))
  ),
  clusterPort: Config.Port("CLUSTER_PORT").pipe(Config.option),
  clusterAdvertiseHost: Config.String("CLUSTER_ADVERTISE_HOST").pipe(Config.withDefault("127.0.0.1")),
  clusterShards: Config.schema(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100_000 })),
    "CLUSTER_SHARDS"
  ).pipe(Config.withDefault(300)),
  clusterLease: Config.Duration("CLUSTER_LEASE").pipe(Config.withDefault(Duration.seconds(10)))
}).pipe(
  Config.map(({ publicUrl, allowedEndpointNetworks, ...config }) => ({
    ...config,
    publicUrl: Option.getOrElse(publicUrl, () => `http://localhost:${config.port}`).replace(/\/+$/, ""),
    allowedEndpointNetworks: Option.match(allowedEndpointNetworks, {
      onNone: () => (Option.isNone(config.databaseUrl) ? EndpointGuard.LOOPBACK_NETWORKS : []),
      onSome: (text) => EndpointGuard.parseNetworks(text) as ReadonlyArray<string>
    })
  }))
)

export class ServerConfig extends Context.Service<ServerConfig, ServerConfigShape>()(
  "@messaging-api/server/ServerConfig"
) {
  static readonly layer = Layer.effect(ServerConfig, Effect.map(serverConfig, ServerConfig.of))
}

/** The endpoint guard the configuration asks for. */
export const EndpointGuardLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ServerConfig
    return EndpointGuard.layer({ allowedNetworks: config.allowedEndpointNetworks })
  })
)
