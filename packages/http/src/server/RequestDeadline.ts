import { withDeadline } from "@messaging-api/domain/Deadline"
import { Duration, Effect, Layer } from "effect"
import { HttpServerRequest } from "effect/http"
import { ServiceUnavailable } from "../api/ApiErrors.ts"
import { RequestDeadline } from "../api/RequestDeadline.ts"
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
export const RequestDeadlineLayer = Layer.effect(
  RequestDeadline,
  Effect.gen(function* () {
    const { databaseTimeout } = yield* HttpSettings
    const limit = databaseTimeout === undefined ? undefined : Duration.fromInputUnsafe(databaseTimeout)
    const timedOut = () =>
      new ServiceUnavailable({
        error: {
          code: "database_unavailable",
          message: `the database did not answer within ${Duration.format(limit!)}; retrying is safe`
        }
      })
    return RequestDeadline.of(
      Effect.fnUntraced(function* (httpEffect) {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (limit === undefined || exempt(request)) return yield* httpEffect
        return yield* withDeadline(httpEffect, Duration.toMillis(limit), timedOut)
      })
    )
  })
)

const exempt = (request: HttpServerRequest.HttpServerRequest): boolean =>
  (request.method === "POST" && /^\/v1\/installations\/?(\?|$)/.test(request.url)) ||
  /[?&]wait=/.test(request.url)
