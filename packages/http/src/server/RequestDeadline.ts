import { Duration, Effect, type Types } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpSettings } from "../HttpSettings.ts"

/**
 * A request waits on the database for at most `DATABASE_STATEMENT_TIMEOUT`: when Postgres stops
 * answering (a hung connection is never reset, and a stopped server cancels nothing), the caller
 * gets 503 `database_unavailable` instead of waiting for the outage to end. Postgres cancels
 * statements past the same limit on its side. The deadline covers producing the response: a live
 * stream's body is not bounded by it. Requests that wait on something else by design are exempt:
 * creating an installation (its endpoint check has its own time limit) and `?wait=` requests.
 *
 * A webhook cut off this way may still commit: its retry with the same message id is answered as
 * the duplicate it is, so retrying a 503 is always safe.
 */
export const RequestDeadlineLayer = HttpRouter.middleware(
  Effect.gen(function* () {
    const { databaseTimeout } = yield* HttpSettings
    if (databaseTimeout === undefined) {
      return (httpEffect: Effect.Effect<HttpServerResponse.HttpServerResponse, Types.unhandled, never>) =>
        httpEffect
    }
    const limit = Duration.fromInputUnsafe(databaseTimeout)
    const timedOut = HttpServerResponse.jsonUnsafe(
      {
        error: {
          code: "database_unavailable",
          message: `the database did not answer within ${Duration.format(limit)}; retrying is safe`
        }
      },
      { status: 503, headers: { "retry-after": "1" } }
    )
    return (httpEffect: Effect.Effect<HttpServerResponse.HttpServerResponse, Types.unhandled, never>) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        return exempt(request)
          ? yield* httpEffect
          : yield* httpEffect.pipe(
              Effect.timeoutOrElse({ duration: limit, orElse: () => Effect.succeed(timedOut) })
            )
      })
  }),
  { global: true }
)

const exempt = (request: HttpServerRequest.HttpServerRequest): boolean =>
  (request.method === "POST" && /^\/v1\/installations\/?(\?|$)/.test(request.url)) ||
  /[?&]wait=/.test(request.url)
