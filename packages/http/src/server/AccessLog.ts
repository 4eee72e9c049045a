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
const routeOf = (context: Context.Context<never>): string =>
  Context.getOrUndefined(context, HttpRouter.RouteContext)?.route.path ?? UNMATCHED

/**
 * A global middleware runs for every request, so it takes few steps: one to read the request and
 * the clock, and on exit one to count it (two more when its line is logged, or when it failed).
 * Written as two generators, with a step per value read, it was about a seventh of the service's
 * CPU for a webhook that needs no database (0.39–0.40 ms a request, 0.34 without it).
 */
export const AccessLogLayer = HttpRouter.middleware(
  (
    httpEffect
  ): Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    Types.unhandled,
    HttpServerRequest.HttpServerRequest
  > =>
    Effect.withFiber((fiber) => {
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      const started = performance.now()
      const record = (status: number) =>
        Effect.withFiber((after) => {
          const route = routeOf(after.context)
          const seconds = (performance.now() - started) / 1000
          Metrics.httpRequestUnsafe(route, status, seconds, after.context)
          // Below the log level, the line and its annotations are not even built.
          if (LogLevel.isGreaterThan(after.getRef(References.MinimumLogLevel), "Info")) return Effect.void
          const durationMs = Math.round(seconds * 10_000) / 10
          return Effect.logInfo(`${request.method} ${route} ${status} ${durationMs}ms`).pipe(
            Effect.annotateLogs({ kind: "access", method: request.method, route, status, durationMs })
          )
        })
      return Effect.onExit(httpEffect, (exit) =>
        Exit.isSuccess(exit)
          ? record(exit.value.status)
          : Effect.flatMap(HttpServerError.causeResponse(exit.cause), ([response]) => record(response.status))
      )
    }),
  { global: true }
)
