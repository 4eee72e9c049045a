import { AccessTokens } from "@messaging-api/domain"
import { Effect, Layer, Redacted } from "effect"
import { Forbidden, Unauthorized } from "../api/ApiErrors.ts"
import { AdminOnly, Authentication, CurrentAccessToken } from "../api/Authentication.ts"
import { answer } from "./ErrorAnswers.ts"

const missingToken = () =>
  new Unauthorized({
    error: { code: "missing_token", message: "send Authorization: Bearer <personal access token>" }
  })

export const AuthenticationLayer = Layer.effect(
  Authentication,
  Effect.gen(function* () {
    const tokens = yield* AccessTokens.AccessTokens
    return Authentication.of({
      bearer: Effect.fnUntraced(function* (httpEffect, { credential }) {
        const presented = Redacted.value(credential)
        if (presented === "") return yield* missingToken()
        const token = yield* tokens.authenticate(presented).pipe(Effect.mapError(answer))
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
