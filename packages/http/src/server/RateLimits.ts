import { Metrics } from "@messaging-api/domain"
import { Duration, Effect, Option, type Types } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { RateLimiter } from "effect/persistence"
import { HttpSettings, type RateLimit } from "../HttpSettings.ts"

/**
 * Limits per caller, in front of every route (a global router middleware), so that a refused
 * request is never handled and writes nothing:
 * - webhook requests per access token (`RATE_LIMIT_PER_TOKEN`, a token bucket: the rate, with a
 *   burst of as many), keyed by the token's id, read from the header without a lookup;
 * - failed authentications (401) per client address (`AUTH_FAILURES_PER_IP`): past the limit the
 *   address is refused everything until the bucket would let it try again.
 * Over a limit: 429 `rate_limited` with `Retry-After` in seconds. The buckets live in this process.
 */

/** `mapi_<16 hex>_…`: the token's id, or undefined for anything else (auth refuses those). */
const tokenIdOf = (authorization: string | undefined): string | undefined =>
  /^\s*bearer\s+mapi_([0-9a-f]{16})_/i.exec(authorization ?? "")?.[1]

const tooMany = (retryAfter: Duration.Duration, message: string) => {
  const seconds = Math.max(1, Math.ceil(Duration.toSeconds(retryAfter)))
  return HttpServerResponse.jsonUnsafe(
    { error: { code: "rate_limited", message: `${message}; try again in ${seconds} s` } },
    { status: 429, headers: { "retry-after": String(seconds) } }
  )
}

export const RateLimitsLayer = HttpRouter.middleware(
  Effect.gen(function* () {
    const limiter = yield* RateLimiter.RateLimiter
    const { rateLimitPerToken, authFailuresPerIp } = yield* HttpSettings
    /** Addresses refused until a time (epoch ms), after too many failed authentications. */
    const blocked = new Map<string, number>()

    const consume = (limit: RateLimit, key: string) =>
      limiter
        .consume({
          algorithm: "token-bucket",
          window: limit.window,
          limit: limit.limit,
          key,
          onExceeded: "fail"
        })
        .pipe(
          Effect.as(Option.none<Duration.Duration>()),
          Effect.catch((error) =>
            Effect.succeed(
              error.reason._tag === "RateLimitExceeded" ? Option.some(error.reason.retryAfter) : Option.none()
            )
          )
        )

    return (httpEffect: Effect.Effect<HttpServerResponse.HttpServerResponse, Types.unhandled, never>) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const address = Option.getOrElse(request.remoteAddress, () => "unknown")
        const until = blocked.get(address)
        if (until !== undefined) {
          if (until > Date.now()) {
            yield* Metrics.rateLimitRefusal("address")
            return tooMany(
              Duration.millis(until - Date.now()),
              "too many failed authentications from this address"
            )
          }
          blocked.delete(address)
        }
        const tokenId = request.url.startsWith("/webhooks/")
          ? tokenIdOf(request.headers.authorization)
          : undefined
        if (tokenId !== undefined && rateLimitPerToken !== undefined) {
          const wait = yield* consume(rateLimitPerToken, `token:${tokenId}`)
          if (Option.isSome(wait)) {
            yield* Metrics.rateLimitRefusal("token")
            return tooMany(wait.value, "too many requests for this access token")
          }
        }
        const response = yield* httpEffect
        if (response.status === 401 && authFailuresPerIp !== undefined) {
          const wait = yield* consume(authFailuresPerIp, `auth-failures:${address}`)
          if (Option.isSome(wait)) blocked.set(address, Date.now() + Duration.toMillis(wait.value))
        }
        return response
      })
  }),
  { global: true }
)
