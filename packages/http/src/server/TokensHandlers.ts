import { AccessTokens } from "@messaging-api/domain"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { databaseUnavailable, InvalidRequest, NotFound } from "../api/ApiErrors.ts"
import { TokenIssuer } from "../TokenIssuer.ts"

export const TokensHandlers = HttpApiBuilder.group(
  Api,
  "tokens",
  Effect.fn(function* (handlers) {
    const tokens = yield* AccessTokens.AccessTokens
    const issuer = yield* TokenIssuer

    return handlers.handleAll({
      create: Effect.fn("Tokens.create")(function* ({ payload }) {
        const installationIds = payload.installationIds ?? null
        const requested: ReadonlyArray<string> = installationIds ?? []
        const created = yield* issuer
          .create({ name: payload.name ?? "", admin: payload.admin ?? false, installationIds })
          .pipe(
            Effect.catchTags({
              InstallationNotFound: ({ id }) =>
                Effect.fail(
                  new InvalidRequest({
                    error: {
                      code: "unknown_installation",
                      message: `no installation ${id}`,
                      details: [
                        {
                          field: `installationIds.${requested.indexOf(id)}`,
                          message: "no such installation"
                        }
                      ]
                    }
                  })
                ),
              AdminTokenRestricted: () =>
                Effect.fail(
                  new InvalidRequest({
                    error: {
                      code: "admin_token_restricted",
                      message: "an admin token cannot be limited to some installations",
                      details: [
                        { field: "installationIds", message: "must be absent or null for an admin token" }
                      ]
                    }
                  })
                ),
              SqlError: () => Effect.fail(databaseUnavailable())
            })
          )
        return { ...created.accessToken, token: created.token }
      }),
      list: () => tokens.list.pipe(Effect.mapError(databaseUnavailable)),
      revoke: ({ params }) =>
        tokens.revoke(params.id).pipe(
          Effect.catchTags({
            AccessTokenNotFound: () =>
              Effect.fail(
                new NotFound({ error: { code: "token_not_found", message: `no access token ${params.id}` } })
              ),
            SqlError: () => Effect.fail(databaseUnavailable())
          })
        )
    })
  })
)
