import { AccessTokens, ConversationCommands, EndpointVerifier, Installations } from "@messaging-api/domain"
import { InstallationSetup } from "@messaging-api/http"
import { Cause, Option } from "effect"
import { CliError } from "effect/cli"
import { InvalidFlagValue } from "./commands/InvalidFlagValue.ts"

/**
 * Turns why the process could not start into one line for the operator: the variable that is
 * wrong, the database that cannot be reached. Anything unexpected keeps its full cause.
 */
export const describeStartupFailure = (cause: Cause.Cause<unknown>): string => {
  const error = Option.getOrUndefined(Cause.findErrorOption(cause))
  const userError = describeUserError(error)
  if (userError !== undefined) return userError
  if (error === undefined || typeof error !== "object" || error === null || !("_tag" in error)) {
    return Cause.pretty(cause)
  }
  const tagged = error as {
    readonly _tag: string
    readonly message?: string
    readonly reason?: unknown
    readonly cause?: unknown
  }
  switch (tagged._tag) {
    case "ConfigError":
      return `invalid configuration: ${configMessage(oneLine(String(tagged.message ?? tagged)))}`
    case "SqlError":
      return `database error: ${oneLine(reasonMessage(tagged))}`
    case "MigrationError":
      return `database migrations failed: ${oneLine(String(tagged.message))}`
    case "ClusterNeedsPostgres":
      return oneLine(String(tagged.message))
    case "EmbeddedPostgresError":
      return `embedded Postgres: ${oneLine(String(tagged.message))}`
    case "ServeError":
      return `cannot serve HTTP: ${oneLine(listenMessage(tagged))}`
    default: {
      // A tagged error without a message of its own (effect's wrappers of a platform error) says its cause's.
      const message = tagged.message || (tagged.cause instanceof Error ? tagged.cause.message : "")
      return `${tagged._tag}: ${oneLine(String(message))}`
    }
  }
}

/** What an operator got wrong on the command line, or asked for that does not exist. */
const describeUserError = (error: unknown): string | undefined => {
  if (CliError.isCliError(error) && error._tag === "ShowHelp") {
    // The usage and what was wrong with it are printed already; this repeats the latter in one line.
    return oneLine(
      error.errors.map((each) => each.message).join("; ") || "choose one of the subcommands listed above"
    )
  }
  if (error instanceof InvalidFlagValue) return `${error.flag}: ${oneLine(error.message)}`
  if (error instanceof InstallationSetup.InvalidInstallation) {
    return `${error.field === "retrySchedule" ? "--retry-schedule" : error.field}: ${oneLine(error.message)}`
  }
  if (error instanceof EndpointVerifier.EndpointVerificationFailed) {
    return (
      `the response endpoint ${error.url} did not accept the test message (${oneLine(error.reason)}); ` +
      "nothing was created (--skip-verify creates it without the check)"
    )
  }
  if (error instanceof Installations.InstallationNotFound) return `no installation ${error.id}`
  if (error instanceof AccessTokens.AccessTokenNotFound) return `no access token ${error.id}`
  if (error instanceof ConversationCommands.UnknownBotMessage) return `no bot message ${error.messageId}`
  if (error instanceof ConversationCommands.NotDeadLettered) {
    return `bot message ${error.messageId} is ${error.status}, not dead-lettered: only dead letters are redelivered`
  }
  if (error instanceof AccessTokens.AdminTokenRestricted) {
    return "an admin token reaches every installation: use --admin or --installation, not both"
  }
  return undefined
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

/** Why the HTTP server could not listen (its cause is Node's `listen` error), and what to change. */
const listenMessage = (error: { readonly cause?: unknown }): string => {
  const cause = error.cause as { readonly code?: unknown; readonly message?: unknown } | undefined
  const message = typeof cause?.message === "string" ? cause.message : String(cause ?? "unknown")
  switch (cause?.code) {
    case "EADDRINUSE":
      return `${message}; another process listens there: stop it, or set PORT (and HOST) to a free address`
    case "EACCES":
      return `${message}; this user may not listen there: set PORT above 1023`
    case "EADDRNOTAVAIL":
      return `${message}; no interface of this machine has that address: check HOST`
    default:
      return message
  }
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, "; ").trim()

/** `SchemaError(Expected …; at ["PORT"])` → `PORT: Expected …` */
const configMessage = (text: string) => {
  const match = /^SchemaError\((.*); at \["([^"]+)"\]\)$/.exec(text)
  return match ? `${match[2]}: ${match[1]}` : text
}
