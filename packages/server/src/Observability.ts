import { Version } from "@messaging-api/http"
import { Effect, Layer, Logger, References } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import * as LogLines from "./LogLines.ts"
import { ServerConfig, type ServerConfigShape } from "./ServerConfig.ts"

/**
 * How the process reports on itself: its log lines (`LOG_FORMAT`, `LOG_LEVEL`) and, when an OTLP
 * endpoint is configured, its traces. Metrics need nothing here: they are served by `/metrics`.
 */

/**
 * `json`: one JSON object per line; `pretty`: one readable line per entry (logfmt); on standard
 * output, a turn of the event loop's lines in one write (`LogLines`). Log lines also become span
 * events.
 */
export const loggerLayer = (config: ServerConfigShape) =>
  Layer.mergeAll(
    Logger.layer([
      LogLines.toStdout(config.logFormat === "json" ? Logger.formatJson : Logger.formatLogFmt),
      Logger.tracerLogger
    ]),
    Layer.succeed(References.MinimumLogLevel, config.logLevel)
  )

/**
 * Spans exported over OTLP/HTTP in batches (flushed when the process stops); without an endpoint,
 * no spans at all: `References.TracerEnabled` off, which effect's own spans (the HTTP server's, the
 * SQL statements') and ours (`Tracing.ts`) take as "record nothing, change no context". Nobody
 * would see them, and entering and leaving some twenty spans was about a quarter of a message's CPU.
 */
export const tracingLayer = (config: ServerConfigShape) => {
  const tracing = config.tracing
  if (tracing === undefined) return Layer.succeed(References.TracerEnabled, false)
  return OtlpTracer.layer({
    url: tracing.url,
    resource: { serviceName: tracing.serviceName, serviceVersion: Version.version },
    headers: tracing.headers,
    exportInterval: tracing.exportInterval
  }).pipe(
    Layer.provide(
      tracing.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf
    ),
    Layer.provide(FetchHttpClient.layer)
  )
}

/** Logging and tracing as configured, with the configuration. */
export const ObservabilityLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ServerConfig
    return Layer.mergeAll(loggerLayer(config), tracingLayer(config))
  })
)
