import { Cause, Option } from "effect"

/**
 * Turns why the process could not start into one line for the operator: the variable that is
 * wrong, the database that cannot be reached. Anything unexpected keeps its full cause.
 */
export const describeStartupFailure = (cause: Cause.Cause<unknown>): string => {
  const error = Option.getOrUndefined(Cause.findErrorOption(cause))
  if (error === undefined || typeof error !== "object" || error === null || !("_tag" in error)) {
    return Cause.pretty(cause)
  }
  const tagged = error as { readonly _tag: string; readonly message?: string; readonly reason?: unknown }
  switch (tagged._tag) {
    case "ConfigError":
      return `invalid configuration: ${configMessage(oneLine(String(tagged.message ?? tagged)))}`
    case "SqlError":
      return `database error: ${oneLine(reasonMessage(tagged))}`
    case "MigrationError":
      return `database migrations failed: ${oneLine(String(tagged.message))}`
    case "EmbeddedPostgresError":
      return `embedded Postgres: ${oneLine(String(tagged.message))}`
    default:
      return `${tagged._tag}: ${oneLine(String(tagged.message ?? ""))}`
  }
}

const reasonMessage = (error: { readonly message?: string; readonly reason?: unknown }): string => {
  const reason = error.reason as {
    readonly _tag?: string
    readonly message?: string
    readonly cause?: unknown
  }
  const cause = reason?.cause instanceof Error ? reason.cause.message : undefined
  if (reason?._tag === "ConnectionError") {
    return `cannot connect to the database${cause ? ` (${cause})` : ""}; check DATABASE_URL`
  }
  return cause ?? reason?.message ?? error.message ?? "unknown"
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, "; ").trim()

/** `SchemaError(Expected …; at ["PORT"])` → `PORT: Expected …` */
const configMessage = (text: string) => {
  const match = /^SchemaError\((.*); at \["([^"]+)"\]\)$/.exec(text)
  return match ? `${match[2]}: ${match[1]}` : text
}
