import {
  EndpointGuard,
  EndpointHealth,
  type Installation,
  Installations,
  RetrySchedule
} from "@messaging-api/domain"
import { type EndpointVerificationFailed, EndpointVerifier } from "@messaging-api/domain/EndpointVerifier"
import { Context, Duration, Effect, Layer, Schema } from "effect"
import type { SqlError } from "effect/sql"
import { botView, type InstallationView } from "./api/InstallationsApi.ts"
import { HttpSettings, webhookUrl } from "./HttpSettings.ts"

export interface InstallationRequest {
  readonly bot: Installation.BotConfig
  /** null: pull-only (nothing is POSTed, and there is no endpoint to check). */
  readonly responseUrl: string | null
  /** The waits after the first try; the default schedule when absent. */
  readonly retrySchedule?: RetrySchedule.RetrySchedule | undefined
  /** Create it without POSTing the test message to the response endpoint first. */
  readonly skipVerify?: boolean | undefined
}

/** The longest time limit an http bot may ask for. */
export const MAX_BOT_TIMEOUT_MS = 5 * 60 * 1000

/**
 * A request the service refuses to install as it is: which field, and why. `endpoint_not_allowed`
 * when the endpoint guard refuses a URL, `invalid_body` for anything else.
 */
export class InvalidInstallation extends Schema.TaggedError<InvalidInstallation>()("InvalidInstallation", {
  code: Schema.Literals(["invalid_body", "endpoint_not_allowed"]),
  field: Schema.String,
  message: Schema.String
}) {}

/** Why a request cannot be installed, or undefined (the bounds the schemas cannot know: configured ones). */
const problemOf = (request: InstallationRequest, minWaitMs: number): InvalidInstallation | undefined => {
  const schedule = request.retrySchedule
  const scheduleProblem =
    schedule === undefined ? undefined : RetrySchedule.scheduleProblem(schedule, minWaitMs)
  if (scheduleProblem !== undefined)
    return new InvalidInstallation({ code: "invalid_body", field: "retrySchedule", message: scheduleProblem })
  const timeout = request.bot._tag === "echo" ? undefined : request.bot.timeoutMs
  if (timeout !== undefined && (timeout < 1 || timeout > MAX_BOT_TIMEOUT_MS)) {
    return new InvalidInstallation({
      code: "invalid_body",
      field: "bot.timeoutMs",
      message: `must be between 1 and ${MAX_BOT_TIMEOUT_MS} milliseconds`
    })
  }
  return undefined
}

const notAllowed = (field: string, refused: EndpointGuard.EndpointNotAllowed) =>
  new InvalidInstallation({ code: "endpoint_not_allowed", field, message: refused.reason })

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
    /**
     * A new signing secret for the installation; the one it replaces keeps signing beside it for
     * the configured overlap (`secretRotationOverlap`).
     */
    rotateSecret(
      id: string
    ): Effect.Effect<InstallationView, Installations.InstallationNotFound | SqlError.SqlError>
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
      const guard = yield* EndpointGuard.EndpointGuard

      // Everything but the rotated-out secret (never shown again) and an llm bot's key (write-only).
      const view = (
        { previousSigningSecret: _, bot, ...installation }: Installation.Installation,
        endpoint: EndpointHealth.EndpointStatus = EndpointHealth.healthy
      ): InstallationView => ({
        ...installation,
        bot: botView(bot),
        webhookUrl: webhookUrl(settings, installation.webhookId),
        endpoint
      })

      const create = Effect.fn("InstallationSetup.create")(function* (request: InstallationRequest) {
        const problem = problemOf(
          request,
          Duration.toMillis(Duration.fromInputUnsafe(settings.minRetryDelay))
        )
        if (problem !== undefined) return yield* problem
        const endpoints: ReadonlyArray<readonly [string, string]> = [
          ...(request.responseUrl === null ? [] : [["responseUrl", request.responseUrl] as const]),
          ...(request.bot._tag === "http" ? [["bot.url", request.bot.url] as const] : []),
          ...(request.bot._tag === "llm" ? [["bot.baseUrl", request.bot.baseUrl] as const] : [])
        ]
        for (const [field, url] of endpoints) {
          yield* EndpointGuard.check(guard, url).pipe(
            Effect.mapError((refused) => notAllowed(field, refused))
          )
        }
        // A pull-only installation has no endpoint to check.
        if (request.skipVerify !== true && request.responseUrl !== null) {
          yield* verifier
            .verify(request.responseUrl)
            .pipe(
              Effect.catchTag("EndpointNotAllowed", (refused) =>
                Effect.fail(notAllowed("responseUrl", refused))
              )
            )
        }
        const installation = yield* installations.create({
          bot: request.bot,
          responseUrl: request.responseUrl,
          retrySchedule: request.retrySchedule ?? RetrySchedule.defaultRetrySchedule
        })
        return view(installation)
      })

      const rotateSecret = (id: string) =>
        installations.rotateSecret(id, settings.secretRotationOverlap).pipe(Effect.map(view))

      return InstallationSetup.of({ create, rotateSecret, view })
    })
  )
}
