import { type Installation, Installations, RetrySchedule } from "@messaging-api/domain"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { databaseUnavailable, InvalidRequest, NotFound } from "../api/ApiErrors.ts"
import type { InstallationView } from "../api/InstallationsApi.ts"
import { EndpointVerifier } from "../EndpointVerifier.ts"
import { HttpSettings, webhookUrl } from "../HttpSettings.ts"

const notFound = (id: string) =>
  new NotFound({ error: { code: "installation_not_found", message: `no installation ${id}` } })

export const InstallationsHandlers = HttpApiBuilder.group(
  Api,
  "installations",
  Effect.fn(function* (handlers) {
    const installations = yield* Installations.Installations
    const verifier = yield* EndpointVerifier
    const settings = yield* HttpSettings
    const view = (installation: Installation.Installation): InstallationView => ({
      ...installation,
      webhookUrl: webhookUrl(settings, installation.webhookId)
    })

    return handlers.handleAll({
      create: Effect.fn("Installations.create")(function* ({ payload }) {
        if (payload.skipVerify !== true) {
          yield* verifier.verify(payload.responseUrl).pipe(
            Effect.mapError(
              (failure) =>
                new InvalidRequest({
                  error: {
                    code: "response_endpoint_unverified",
                    message: `the response endpoint did not accept the test message: ${failure.reason}`,
                    details: [{ field: "responseUrl", message: failure.reason }]
                  }
                })
            )
          )
        }
        const installation = yield* installations
          .create({
            bot: payload.bot,
            responseUrl: payload.responseUrl,
            retrySchedule: payload.retrySchedule ?? RetrySchedule.defaultRetrySchedule
          })
          .pipe(Effect.mapError(databaseUnavailable))
        return view(installation)
      }),
      list: () =>
        installations.list.pipe(
          Effect.map((all) => all.map(view)),
          Effect.mapError(databaseUnavailable)
        ),
      get: ({ params }) =>
        installations.get(params.id).pipe(
          Effect.map(view),
          Effect.catchTags({
            InstallationNotFound: () => Effect.fail(notFound(params.id)),
            SqlError: () => Effect.fail(databaseUnavailable())
          })
        ),
      delete: ({ params }) =>
        installations.delete(params.id).pipe(
          Effect.catchTags({
            InstallationNotFound: () => Effect.fail(notFound(params.id)),
            SqlError: () => Effect.fail(databaseUnavailable())
          })
        )
    })
  })
)
