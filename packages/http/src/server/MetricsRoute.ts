import { AccessTokens, Metrics, OperationalGauges } from "@messaging-api/domain"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { SqlClient } from "effect/sql"
import { HttpSettings } from "../HttpSettings.ts"
import { ProcessMetrics } from "./ProcessMetrics.ts"

/**
 * `GET /metrics`: every metric of the process in the Prometheus text format, names prefixed
 * `messaging_api_` (see `Metrics`), the database gauges (`OperationalGauges`) and the process's own
 * (`ProcessMetrics`) sampled just before.
 * It needs an admin access token unless `METRICS_PUBLIC=true` (a scraper on a private network).
 */

const refuse = (status: number, code: string, message: string) =>
  HttpServerResponse.jsonUnsafe({ error: { code, message } }, { status })

const bearer = (authorization: string | undefined): string | undefined =>
  /^\s*bearer\s+(\S+)\s*$/i.exec(authorization ?? "")?.[1]

/** Undefined when the caller may read the metrics, otherwise the refusal. */
const checkAdmin = Effect.fnUntraced(function* (
  tokens: AccessTokens.AccessTokens["Service"],
  request: HttpServerRequest.HttpServerRequest
) {
  const presented = bearer(request.headers.authorization)
  if (presented === undefined) {
    return refuse(
      401,
      "missing_token",
      "send Authorization: Bearer <admin access token> (or set METRICS_PUBLIC=true)"
    )
  }
  const token = yield* tokens.authenticate(presented).pipe(
    Effect.map((token) =>
      token.admin ? undefined : refuse(403, "admin_token_required", "/metrics needs an admin access token")
    ),
    Effect.catchTags({
      InvalidAccessToken: () =>
        Effect.succeed(refuse(401, "invalid_token", "the access token is unknown or revoked")),
      SqlError: () => Effect.succeed(refuse(503, "database_unavailable", "the database is unavailable"))
    })
  )
  return token
})

export const MetricsRoute = Layer.effectDiscard(
  Effect.gen(function* () {
    const router = yield* HttpRouter.HttpRouter
    const settings = yield* HttpSettings
    const tokens = yield* AccessTokens.AccessTokens
    const sql = yield* SqlClient.SqlClient
    const processMetrics = yield* ProcessMetrics
    const handler = Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (!settings.metricsPublic) {
        const refused = yield* checkAdmin(tokens, request)
        if (refused !== undefined) return refused
      }
      yield* Effect.provideService(OperationalGauges.sample, SqlClient.SqlClient, sql)
      yield* processMetrics.sample
      const body = yield* PrometheusMetrics.format({ metricNameMapper: Metrics.prefixed })
      return HttpServerResponse.text(body, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
    })
    yield* router.add("GET", "/metrics", handler)
  })
).pipe(Layer.provide(ProcessMetrics.layer))
