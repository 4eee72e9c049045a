import { type Installation, Installations, RetrySchedule } from "@messaging-api/domain"
import { Context, Effect, Layer } from "effect"
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
    ): Effect.Effect<InstallationView, EndpointVerificationFailed | SqlError.SqlError>
    view(installation: Installation.Installation): InstallationView
  }
>()("@messaging-api/http/InstallationSetup") {
  static readonly layer = Layer.effect(
    InstallationSetup,
    Effect.gen(function* () {
      const installations = yield* Installations.Installations
      const verifier = yield* EndpointVerifier
      const settings = yield* HttpSettings

      const view = (installation: Installation.Installation): InstallationView => ({
        ...installation,
        webhookUrl: webhookUrl(settings, installation.webhookId)
      })

      const create = Effect.fn("InstallationSetup.create")(function* (request: InstallationRequest) {
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
