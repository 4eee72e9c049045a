import { Duration, Effect, type Exit, Fiber, Layer } from "effect"
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

/**
 * `effect`, or the failure `onTimeout` gives once `millis` have passed (the effect is then
 * interrupted): what `Effect.timeoutOrElse` does, at the cost of one child fiber that starts at
 * once and one timer. `timeoutOrElse` races the effect against a sleep, two forked fibers each
 * started on the next turn of the event loop, and that was about an eighth of the service's CPU
 * for a webhook that needs no database (a repeated message: 0.44–0.45 ms a request with it, 0.38–0.41
 * without the deadline at all).
 */
const withDeadline = <A, E, R, E2>(
  effect: Effect.Effect<A, E, R>,
  millis: number,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.flatMap(Effect.forkChild(effect, { startImmediately: true }), (child) => {
    const done = child.pollUnsafe()
    if (done !== undefined) return done
    return Effect.callback<Exit.Exit<A, E> | undefined>((resume) => {
      const timer = setTimeout(() => resume(Effect.succeed(undefined)), millis)
      const stop = child.addObserver((exit) => {
        clearTimeout(timer)
        resume(Effect.succeed(exit))
      })
      // The caller was interrupted: stop waiting (the child ends with its parent).
      return Effect.sync(() => {
        clearTimeout(timer)
        stop()
      })
    }).pipe(
      Effect.flatMap(
        (exit): Effect.Effect<A, E | E2> =>
          exit === undefined ? Effect.andThen(Fiber.interrupt(child), Effect.fail(onTimeout())) : exit
      )
    )
  })

const exempt = (request: HttpServerRequest.HttpServerRequest): boolean =>
  (request.method === "POST" && /^\/v1\/installations\/?(\?|$)/.test(request.url)) ||
  /[?&]wait=/.test(request.url)
