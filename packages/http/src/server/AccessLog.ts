import { Metrics } from "@messaging-api/domain"
import { Context, Effect, Exit, LogLevel, References, type Types } from "effect"
import { HttpRouter, HttpServerError, HttpServerRequest, type HttpServerResponse } from "effect/http"

/**
 * Every request, once answered: one access line (method, route, status, duration; never a
 * header value, a token or a body) at Info, and `messaging_api_http_requests_total{route,status}`
 * with the duration histogram. `route` is the matched path pattern (`/webhooks/:webhookId`), so
 * ids never become labels; a request no route matched counts as `unmatched`.
 */

const UNMATCHED = "unmatched"

/** The pattern of the route that answered, if one matched (the router leaves it in the context). */
const matchedRoute = Effect.withFiber((fiber) =>
  Effect.succeed(Context.getOrUndefined(fiber.context, HttpRouter.RouteContext)?.route.path ?? UNMATCHED)
)

const statusOf = (exit: Exit.Exit<HttpServerResponse.HttpServerResponse, unknown>) =>
  Exit.isSuccess(exit)
    ? Effect.succeed(exit.value.status)
    : Effect.map(HttpServerError.causeResponse(exit.cause), ([response]) => response.status)

export const AccessLogLayer = HttpRouter.middleware(
  (
    httpEffect
  ): Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    Types.unhandled,
    HttpServerRequest.HttpServerRequest
  > =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const started = performance.now()
      return yield* httpEffect.pipe(
        Effect.onExit((exit) =>
          Effect.gen(function* () {
            const status = yield* statusOf(exit)
            const route = yield* matchedRoute
            const seconds = (performance.now() - started) / 1000
            yield* Metrics.httpRequest(route, status, seconds)
            // Below the log level, the line and its annotations are not even built.
            if (LogLevel.isGreaterThan(yield* References.MinimumLogLevel, "Info")) return
            const durationMs = Math.round(seconds * 10_000) / 10
            yield* Effect.logInfo(`${request.method} ${route} ${status} ${durationMs}ms`).pipe(
              Effect.annotateLogs({ kind: "access", method: request.method, route, status, durationMs })
            )
          })
        )
      )
    }),
  { global: true }
)
