import { EndpointHealth, type Installation, Installations } from "@messaging-api/domain"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { databaseUnavailable, InvalidRequest, NotFound } from "../api/ApiErrors.ts"
import { InstallationSetup } from "../InstallationSetup.ts"

const notFound = (id: string) =>
  new NotFound({ error: { code: "installation_not_found", message: `no installation ${id}` } })

export const InstallationsHandlers = HttpApiBuilder.group(
  Api,
  "installations",
  Effect.fn(function* (handlers) {
    const installations = yield* Installations.Installations
    const health = yield* EndpointHealth.EndpointHealth
    const setup = yield* InstallationSetup

    const withEndpoint = (installation: Installation.Installation) =>
      health.get(installation.id).pipe(Effect.map((endpoint) => setup.view(installation, endpoint)))

    return handlers.handleAll({
      create: ({ payload }) =>
        setup.create(payload).pipe(
          Effect.catchTags({
            InvalidInstallation: (invalid) =>
              Effect.fail(
                new InvalidRequest({
                  error: {
                    code: invalid.code,
                    message:
                      invalid.code === "endpoint_not_allowed"
                        ? `${invalid.field} is not allowed: ${invalid.message}`
                        : `invalid ${invalid.field}: ${invalid.message}`,
                    details: [{ field: invalid.field, message: invalid.message }]
                  }
                })
              ),
            EndpointVerificationFailed: (failure) =>
              Effect.fail(
                new InvalidRequest({
                  error: {
                    code: "response_endpoint_unverified",
                    message: `the response endpoint did not accept the test message: ${failure.reason}`,
                    details: [{ field: "responseUrl", message: failure.reason }]
                  }
                })
              ),
            SqlError: () => Effect.fail(databaseUnavailable())
          })
        ),
      list: () =>
        installations.list.pipe(
          Effect.flatMap((all) =>
            health
              .getMany(all.map((installation) => installation.id))
              .pipe(
                Effect.map((endpoints) =>
                  all.map((installation) => setup.view(installation, endpoints.get(installation.id)))
                )
              )
          ),
          Effect.mapError(databaseUnavailable)
        ),
      get: ({ params }) =>
        installations.get(params.id).pipe(
          Effect.flatMap(withEndpoint),
          Effect.catchTags({
            InstallationNotFound: () => Effect.fail(notFound(params.id)),
            SqlError: () => Effect.fail(databaseUnavailable())
          })
        ),
      resume: ({ params }) =>
        installations.get(params.id).pipe(
          Effect.tap((installation) => health.resume(installation.id)),
          Effect.flatMap(withEndpoint),
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
        ),
      rotateSecret: ({ params }) =>
        setup.rotateSecret(params.id).pipe(
          Effect.map((rotated) => ({ signingSecret: rotated.signingSecret })),
          Effect.catchTags({
            InstallationNotFound: () => Effect.fail(notFound(params.id)),
            SqlError: () => Effect.fail(databaseUnavailable())
          })
        )
    })
  })
)
