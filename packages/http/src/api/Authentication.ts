import type { AccessTokens } from "@messaging-api/domain"
import { Context } from "effect"
import { HttpApiMiddleware, HttpApiSecurity } from "effect/http-api"
import { Forbidden, ServiceUnavailable, Unauthorized } from "./ApiErrors.ts"

/** The access token the request was authenticated with. */
export class CurrentAccessToken extends Context.Service<CurrentAccessToken, AccessTokens.AccessToken>()(
  "@messaging-api/http/CurrentAccessToken"
) {}

/** `Authorization: Bearer <personal access token>` (scheme case-insensitive). */
export class Authentication extends HttpApiMiddleware.Service<
  Authentication,
  { provides: CurrentAccessToken }
>()("@messaging-api/http/Authentication", {
  security: { bearer: HttpApiSecurity.bearer },
  error: [Unauthorized, ServiceUnavailable]
}) {}

/** The /v1 admin API: admin tokens only. */
export class AdminOnly extends HttpApiMiddleware.Service<AdminOnly, { requires: CurrentAccessToken }>()(
  "@messaging-api/http/AdminOnly",
  { error: Forbidden }
) {}
