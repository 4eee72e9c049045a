import { Context, Duration, Effect, Layer, Schema } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { HttpSettings } from "./HttpSettings.ts"

/** The response endpoint did not answer the test message with a 2xx in time. */
export class EndpointVerificationFailed extends Schema.TaggedError<EndpointVerificationFailed>()(
  "EndpointVerificationFailed",
  { url: Schema.String, reason: Schema.String }
) {}

/** The message an installation's response endpoint must accept before the installation exists. */
export const testMessage = { type: "test", payload: "test" } as const

/**
 * Checks a response endpoint the way the original integration does on install: POST
 * `{"type":"test","payload":"test"}` and require a 2xx within the timeout.
 */
export class EndpointVerifier extends Context.Service<
  EndpointVerifier,
  { verify(url: string): Effect.Effect<void, EndpointVerificationFailed> }
>()("@messaging-api/http/EndpointVerifier") {
  static readonly layer = Layer.effect(
    EndpointVerifier,
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const { verifyTimeout } = yield* HttpSettings
      const timeout = Duration.fromInputUnsafe(verifyTimeout)

      const verify = Effect.fn("EndpointVerifier.verify")(function* (url: string) {
        const fail = (reason: string) => new EndpointVerificationFailed({ url, reason })
        const response = yield* HttpClientRequest.post(url).pipe(
          HttpClientRequest.bodyJsonUnsafe(testMessage),
          client.execute,
          // A redirect is an answer, never followed: a 307 would POST the test message elsewhere.
          Effect.provideService(FetchHttpClient.RequestInit, { redirect: "manual" }),
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () => Effect.fail(fail(`no answer within ${Duration.format(timeout)}`))
          }),
          Effect.catchTag("HttpClientError", (error) => Effect.fail(fail(error.message)))
        )
        if (response.status < 200 || response.status >= 300) {
          return yield* fail(
            response.status >= 300 && response.status < 400
              ? `answered ${response.status}; redirects are not followed, a 2xx is required`
              : `answered ${response.status}; a 2xx is required`
          )
        }
      })

      return EndpointVerifier.of({ verify })
    })
  )
}
