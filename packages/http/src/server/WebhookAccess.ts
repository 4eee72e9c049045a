import { Installations } from "@messaging-api/domain"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { Forbidden, NotFound } from "../api/ApiErrors.ts"
import { CurrentAccessToken } from "../api/Authentication.ts"
import { CurrentInstallation, WebhookAccess } from "../api/WebhookAccess.ts"
import { answer } from "./ErrorAnswers.ts"

export const WebhookAccessLayer = Layer.effect(
  WebhookAccess,
  Effect.gen(function* () {
    const installations = yield* Installations.Installations
    return WebhookAccess.of(
      Effect.fnUntraced(function* (httpEffect) {
        const token = yield* CurrentAccessToken
        const { params } = yield* HttpRouter.RouteContext
        const webhookId = params.webhookId ?? ""
        const installation = yield* installations.findByWebhookId(webhookId).pipe(
          // Looked up by its webhook id, an installation not found is a webhook not found.
          Effect.mapError((error) =>
            error._tag === "InstallationNotFound"
              ? new NotFound({ error: { code: "webhook_not_found", message: `no webhook ${webhookId}` } })
              : answer(error)
          )
        )
        if (!token.allows(installation.id)) {
          return yield* new Forbidden({
            error: {
              code: "installation_not_allowed",
              message: "this access token is not allowed on this installation"
            }
          })
        }
        return yield* Effect.provideService(httpEffect, CurrentInstallation, installation)
      })
    )
  })
)
