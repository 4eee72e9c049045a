import { Config, Duration, Option, Schema } from "effect"

/**
 * Where traces go: the standard OpenTelemetry variables for traces over OTLP/HTTP. The endpoint
 * (the base, to which `/v1/traces` is added, or the traces URL itself), the protocol (protobuf by
 * default, as the specification says), headers, `OTEL_SERVICE_NAME`, `OTEL_BSP_SCHEDULE_DELAY`;
 * `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true` turn it off.
 */
export interface TracingSettings {
  /** The full traces URL (`…/v1/traces`). */
  readonly url: string
  readonly protocol: "http/protobuf" | "http/json"
  readonly serviceName: string
  readonly headers: Readonly<Record<string, string>>
  /** How often finished spans are sent (`OTEL_BSP_SCHEDULE_DELAY`, default 5 s). */
  readonly exportInterval: Duration.Duration
}

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

/** The tracing settings the environment asks for; undefined when it asks for none. */
export const tracingConfig: Config.Config<TracingSettings | undefined> = Config.all({
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
