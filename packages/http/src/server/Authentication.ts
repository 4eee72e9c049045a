import { AccessTokens } from "@messaging-api/domain"
import { Effect, Layer, Redacted } from "effect"
import { databaseUnavailable, Forbidden, Unauthorized } from "../api/ApiErrors.ts"
import { AdminOnly, Authentication, CurrentAccessToken } from "../api/Authentication.ts"

const missingToken = () =>
  new Unauthorized({
    error: { code: "missing_token", message: "send Authorization: Bearer <personal access token>" }
  })

const invalidToken = () =>
  new Unauthorized({ error: { code: "invalid_token", message: "the access token is unknown or revoked" } })

export const AuthenticationLayer = Layer.effect(
  Authentication,
  Effect.gen(function* () {
    const tokens = yield* AccessTokens.AccessTokens
    return Authentication.of({
      bearer: Effect.fnUntraced(function* (httpEffect, { credential }) {
        const presented = Redacted.value(credential)
        if (presented === "") return yield* missingToken()
        const token = yield* tokens.authenticate(presented).pipe(
          Effect.catchTags({
            InvalidAccessToken: () => Effect.fail(invalidToken()),
            SqlError: () => Effect.fail(databaseUnavailable())
          })
        )
        return yield* Effect.provideService(httpEffect, CurrentAccessToken, token)
      })
    })
  })
)

export const AdminOnlyLayer = Layer.succeed(
  AdminOnly,
  Effect.fnUntraced(function* (httpEffect) {
    const token = yield* CurrentAccessToken
    if (!token.admin) {
      return yield* new Forbidden({
        error: { code: "admin_token_required", message: "the /v1 API needs an admin access token" }
      })
    }
    return yield* httpEffect
  })
)
