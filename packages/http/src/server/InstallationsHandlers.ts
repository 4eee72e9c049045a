import { EndpointHealth, type Installation, Installations } from "@messaging-api/domain"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { InstallationSetup } from "../InstallationSetup.ts"
import { answering } from "./ErrorAnswers.ts"

export const InstallationsHandlers = HttpApiBuilder.group(
  Api,
  "installations",
  Effect.fn(function* (handlers) {
    const installations = yield* Installations.Installations
    const health = yield* EndpointHealth.EndpointHealth
    const setup = yield* InstallationSetup

    const withEndpoint = (installation: Installation.Installation) =>
      health.get(installation.id).pipe(Effect.map((endpoint) => setup.view(installation, endpoint)))

    return answering(handlers).handleAll({
      create: ({ payload }) => setup.create(payload),
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
          )
        ),
      get: ({ params }) => installations.get(params.id).pipe(Effect.flatMap(withEndpoint)),
      resume: ({ params }) =>
        installations.get(params.id).pipe(
          Effect.tap((installation) => health.resume(installation.id)),
          Effect.flatMap(withEndpoint)
        ),
      delete: ({ params }) => installations.delete(params.id),
      rotateSecret: ({ params }) =>
        setup
          .rotateSecret(params.id)
          .pipe(Effect.map((rotated) => ({ signingSecret: rotated.signingSecret })))
    })
  })
)
