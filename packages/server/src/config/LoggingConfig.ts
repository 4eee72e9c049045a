import { Config, type LogLevel, Option, Schema } from "effect"

/** How much the process logs (`LOG_LEVEL`) and in which form (`LOG_FORMAT`). */

/** `json`: one JSON object per line; `pretty`: for a person at a terminal. */
export type LogFormat = "json" | "pretty"

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

/** `LOG_LEVEL`, info by default. */
export const logLevelConfig: Config.Config<LogLevel.LogLevel> = Config.schema(LogLevelText, "LOG_LEVEL").pipe(
  Config.withDefault("info"),
  Config.map((text) => logLevels[text.trim().toLowerCase()] ?? "Info")
)

/** `LOG_FORMAT`; unset, pretty at a terminal and JSON otherwise. */
export const logFormatConfig: Config.Config<LogFormat> = Config.schema(LogFormatText, "LOG_FORMAT").pipe(
  Config.option,
  Config.map(
    (format): LogFormat =>
      Option.match(format, {
        onNone: () => (process.stdout.isTTY ? "pretty" : "json"),
        onSome: (text) => (text.trim().toLowerCase() === "json" ? "json" : "pretty")
      })
  )
)
