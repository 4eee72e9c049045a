import { EndpointGuard } from "@messaging-api/domain"
import {
  EndpointVerificationFailed,
  EndpointVerifier,
  testMessage
} from "@messaging-api/domain/EndpointVerifier"
import { Effect, Layer } from "effect"
import { WebhookClient } from "./WebhookClient.ts"

/**
 * The installation check over the delivery engine's own client: the same endpoint guard at
 * creation and at connect time, no redirects followed, the delivery time limit.
 */
export const layer = Layer.effect(
  EndpointVerifier,
  Effect.gen(function* () {
    const client = yield* WebhookClient
    const guard = yield* EndpointGuard.EndpointGuard
    const body = JSON.stringify(testMessage)

    const verify = Effect.fn("EndpointVerifier.verify")(function* (url: string) {
      yield* EndpointGuard.check(guard, url)
      const response = yield* client
        .postJson({ url, body })
        .pipe(Effect.mapError((failure) => new EndpointVerificationFailed({ url, reason: failure.message })))
      if (response.status < 200 || response.status >= 300) {
        return yield* new EndpointVerificationFailed({
          url,
          reason:
            response.status >= 300 && response.status < 400
              ? `answered ${response.status}; redirects are not followed, a 2xx is required`
              : `answered ${response.status}; a 2xx is required`
        })
      }
    })

    return EndpointVerifier.of({ verify })
  })
)

/** With a connection pool of its own (the CLI, or a server that wires the engine's parts itself). */
export const layerWithOwnClient = layer.pipe(Layer.provide(WebhookClient.layer))
