import { EndpointHealth, type Installation, Installations, RetrySchedule } from "@messaging-api/domain"
import { Context, Duration, Effect, Layer, Schema } from "effect"
import type { SqlError } from "effect/sql"
import type { InstallationView } from "./api/InstallationsApi.ts"
import { type EndpointVerificationFailed, EndpointVerifier } from "./EndpointVerifier.ts"
import { HttpSettings, webhookUrl } from "./HttpSettings.ts"

export interface InstallationRequest {
  readonly bot: Installation.BotConfig
  readonly responseUrl: string
  /** The waits after the first try; the default schedule when absent. */
  readonly retrySchedule?: RetrySchedule.RetrySchedule | undefined
  /** Create it without POSTing the test message to the response endpoint first. */
  readonly skipVerify?: boolean | undefined
}

/** The longest time limit an http bot may ask for. */
export const MAX_BOT_TIMEOUT_MS = 5 * 60 * 1000

/** A request the service refuses to install as it is: which field, and why. */
export class InvalidInstallation extends Schema.TaggedError<InvalidInstallation>()("InvalidInstallation", {
  field: Schema.String,
  message: Schema.String
}) {}

/** Why a request cannot be installed, or undefined (the bounds the schemas cannot know: configured ones). */
/** A URL with a user name or password in it: refused, since it would be stored and listed as it is. */
const hasCredentials = (url: string): boolean => {
  try {
    const parsed = new URL(url)
    return parsed.username !== "" || parsed.password !== ""
  } catch {
    return false
  }
}

const problemOf = (request: InstallationRequest, minWaitMs: number): InvalidInstallation | undefined => {
  if (hasCredentials(request.responseUrl)) {
    return new InvalidInstallation({
      field: "responseUrl",
      message: "must not contain a user name or password"
    })
  }
  if (request.bot._tag === "http" && hasCredentials(request.bot.url)) {
    return new InvalidInstallation({ field: "bot.url", message: "must not contain a user name or password" })
  }
  const schedule = request.retrySchedule
  const scheduleProblem =
    schedule === undefined ? undefined : RetrySchedule.scheduleProblem(schedule, minWaitMs)
  if (scheduleProblem !== undefined)
    return new InvalidInstallation({ field: "retrySchedule", message: scheduleProblem })
  const timeout = request.bot._tag === "http" ? request.bot.timeoutMs : undefined
  if (timeout !== undefined && (timeout < 1 || timeout > MAX_BOT_TIMEOUT_MS)) {
    return new InvalidInstallation({
      field: "bot.timeoutMs",
      message: `must be between 1 and ${MAX_BOT_TIMEOUT_MS} milliseconds`
    })
  }
  return undefined
}

/**
 * Installing, as the admin API and the CLI both do it: the response endpoint must accept the
 * test message before the installation exists, and callers see it with its webhook URL (built
 * from the public URL in `HttpSettings`).
 */
export class InstallationSetup extends Context.Service<
  InstallationSetup,
  {
    create(
      request: InstallationRequest
    ): Effect.Effect<InstallationView, InvalidInstallation | EndpointVerificationFailed | SqlError.SqlError>
    /** The installation as the API shows it (a new one's endpoint is healthy). */
    view(installation: Installation.Installation, endpoint?: EndpointHealth.EndpointStatus): InstallationView
  }
>()("@messaging-api/http/InstallationSetup") {
  static readonly layer = Layer.effect(
    InstallationSetup,
    Effect.gen(function* () {
      const installations = yield* Installations.Installations
      const verifier = yield* EndpointVerifier
      const settings = yield* HttpSettings

      const view = (
        installation: Installation.Installation,
        endpoint: EndpointHealth.EndpointStatus = EndpointHealth.healthy
      ): InstallationView => ({
        ...installation,
        webhookUrl: webhookUrl(settings, installation.webhookId),
        endpoint
      })

      const create = Effect.fn("InstallationSetup.create")(function* (request: InstallationRequest) {
        const problem = problemOf(
          request,
          Duration.toMillis(Duration.fromInputUnsafe(settings.minRetryDelay))
        )
        if (problem !== undefined) return yield* problem
        if (request.skipVerify !== true) yield* verifier.verify(request.responseUrl)
        const installation = yield* installations.create({
          bot: request.bot,
          responseUrl: request.responseUrl,
          retrySchedule: request.retrySchedule ?? RetrySchedule.defaultRetrySchedule
        })
        return view(installation)
      })

      return InstallationSetup.of({ create, view })
    })
  )
}
