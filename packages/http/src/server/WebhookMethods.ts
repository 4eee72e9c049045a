import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"

/**
 * A webhook URL takes POST only: any other method answers 405 with `Allow: POST` (not the 404 a
 * browser or a mistyped curl would otherwise get, which reads as "wrong URL").
 */
const notAllowed = Effect.succeed(
  HttpServerResponse.jsonUnsafe(
    { error: { code: "method_not_allowed", message: "a webhook URL takes POST only" } },
    { status: 405, headers: { allow: "POST" } }
  )
)

export const WebhookMethodsLayer = Layer.effectDiscard(
  Effect.gen(function* () {
    const router = yield* HttpRouter.HttpRouter
    for (const method of ["GET", "PUT", "PATCH", "DELETE"] as const) {
      yield* router.add(method, "/webhooks/:webhookId", notAllowed)
    }
  })
)
