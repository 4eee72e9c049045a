import { AccessTokens, EndpointGuard } from "@messaging-api/domain"
import { Config, Context, Duration, Effect, Layer, type LogLevel, Option, Redacted, Schema } from "effect"

/**
 * Everything the process reads from its environment, parsed once at start. A bad value stops
 * the process with one line naming the variable (see bin.ts), never a stack trace.
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

export type LogFormat = "json" | "pretty"

export interface TracingSettings {
  /** The full traces URL (`…/v1/traces`). */
  readonly url: string
  readonly protocol: "http/protobuf" | "http/json"
  readonly serviceName: string
  readonly headers: Readonly<Record<string, string>>
  /** How often finished spans are sent (`OTEL_BSP_SCHEDULE_DELAY`, default 5 s). */
  readonly exportInterval: Duration.Duration
}

export interface RateLimit {
  readonly limit: number
  readonly window: Duration.Duration
}

const windows: Record<string, Duration.Duration> = {
  s: Duration.seconds(1),
  m: Duration.minutes(1),
  h: Duration.hours(1)
}

const rateLimitPattern = /^\s*(\d+)\s*\/\s*(s|m|h)\s*$/

/** `100/s`, `600/m`, `1000/h`, or `off`. */
const RateLimitText = Schema.String.check(
  Schema.makeFilter((text: string) => {
    if (text.trim().toLowerCase() === "off") return undefined
    const match = rateLimitPattern.exec(text)
    return match !== null && Number(match[1]) > 0 ? undefined : "expected like 100/s, 600/m, 1000/h or off"
  })
)

const rateLimit = (name: string, fallback: string) =>
  Config.schema(RateLimitText, name).pipe(
    Config.withDefault(fallback),
    Config.map((text): RateLimit | undefined => {
      const match = rateLimitPattern.exec(text)
      return match === null ? undefined : { limit: Number(match[1]), window: windows[match[2]!]! }
    })
  )

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

/** The usual names, in any case: trace, debug, info, warn/warning, error, fatal, none (and all). */
const logLevels: Record<string, LogLevel.LogLevel> = {
  all: "All",
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  warning: "Warn",
  error: "Error",
  fatal: "Fatal",
  none: "None",
  off: "None"
}

const LogLevelText = Schema.String.check(
  Schema.makeFilter((text: string) =>
    logLevels[text.trim().toLowerCase()] !== undefined
      ? undefined
      : "expected one of trace, debug, info, warn, error, fatal, none (any case)"
  )
)

const LogFormatText = Schema.String.check(
  Schema.makeFilter((text: string) =>
    ["json", "pretty"].includes(text.trim().toLowerCase()) ? undefined : "expected json or pretty"
  )
)

const HttpUrl = Schema.String.check(
  Schema.makeFilter((value: string) => {
    try {
      const url = new URL(value)
      return url.protocol === "http:" || url.protocol === "https:" ? undefined : "must be an http(s) URL"
    } catch {
      return "must be a URL like http://collector:4318"
    }
  })
)

const OtlpProtocol = Schema.String.check(
  Schema.makeFilter((text: string) =>
    ["http/protobuf", "http/json"].includes(text.trim().toLowerCase())
      ? undefined
      : "expected http/protobuf or http/json (gRPC is not supported)"
  )
)

/** `key=value,key2=value2`, values URL-encoded (the OpenTelemetry convention). */
const OtlpHeaders = Schema.String.check(
  Schema.makeFilter((text: string) =>
    text
      .split(",")
      .filter((pair) => pair.trim() !== "")
      .every((pair) => /^[^=]+=/.test(pair))
      ? undefined
      : "expected key=value pairs separated by commas"
  )
)

const parseHeaders = (text: string): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const pair of text.split(",")) {
    const at = pair.indexOf("=")
    if (at <= 0) continue
    headers[pair.slice(0, at).trim()] = decodeURIComponent(pair.slice(at + 1).trim())
  }
  return headers
}

const optionalString = <S extends Schema.Codec<string, string>>(schema: S, name: string) =>
  Config.schema(schema, name).pipe(
    Config.option,
    Config.map(Option.filter((value: string) => value.trim() !== ""))
  )

/**
 * The standard OpenTelemetry variables for traces over OTLP/HTTP: the endpoint (the base, to
 * which `/v1/traces` is added, or the traces URL itself), the protocol (protobuf by default, as
 * the specification says), headers, `OTEL_SERVICE_NAME`, `OTEL_BSP_SCHEDULE_DELAY`;
 * `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true` turn it off.
 */
const tracingConfig: Config.Config<TracingSettings | undefined> = Config.all({
  base: optionalString(HttpUrl, "OTEL_EXPORTER_OTLP_ENDPOINT"),
  traces: optionalString(HttpUrl, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  exporter: Config.String("OTEL_TRACES_EXPORTER").pipe(Config.withDefault("otlp")),
  disabled: Config.Boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false)),
  protocol: optionalString(OtlpProtocol, "OTEL_EXPORTER_OTLP_PROTOCOL"),
  tracesProtocol: optionalString(OtlpProtocol, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
  headers: optionalString(OtlpHeaders, "OTEL_EXPORTER_OTLP_HEADERS"),
  tracesHeaders: optionalString(OtlpHeaders, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
  serviceName: Config.String("OTEL_SERVICE_NAME").pipe(Config.withDefault("messaging-api")),
  exportInterval: Config.Int("OTEL_BSP_SCHEDULE_DELAY").pipe(Config.withDefault(5000))
}).pipe(
  Config.map((otel): TracingSettings | undefined => {
    const url = Option.isSome(otel.traces)
      ? otel.traces.value
      : Option.isSome(otel.base)
        ? `${otel.base.value.replace(/\/+$/, "")}/v1/traces`
        : undefined
    const exporters = otel.exporter.split(",").map((name) => name.trim().toLowerCase())
    if (url === undefined || otel.disabled || !exporters.includes("otlp")) return undefined
    const protocol = Option.getOrElse(
      Option.orElse(otel.tracesProtocol, () => otel.protocol),
      () => "http/protobuf"
    )
    const headers = Option.orElse(otel.tracesHeaders, () => otel.headers)
    return {
      url,
      protocol: protocol.trim().toLowerCase() === "http/json" ? "http/json" : "http/protobuf",
      serviceName: otel.serviceName.trim() === "" ? "messaging-api" : otel.serviceName.trim(),
      headers: Option.match(headers, { onNone: () => ({}), onSome: parseHeaders }),
      exportInterval: Duration.millis(Math.max(1, otel.exportInterval))
    }
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
  logLevel: Config.schema(LogLevelText, "LOG_LEVEL").pipe(
    Config.withDefault("info"),
    Config.map((text) => logLevels[text.trim().toLowerCase()] ?? "Info")
  ),
  logFormat: Config.schema(LogFormatText, "LOG_FORMAT").pipe(
    Config.option,
    Config.map(
      (format): LogFormat =>
        Option.match(format, {
          onNone: () => (process.stdout.isTTY ? "pretty" : "json"),
          onSome: (text) => (text.trim().toLowerCase() === "json" ? "json" : "pretty")
        })
    )
  ),
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
  rateLimitPerToken: rateLimit("RATE_LIMIT_PER_TOKEN", "100/s"),
  authFailuresPerIp: rateLimit("AUTH_FAILURES_PER_IP", "20/s"),
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
