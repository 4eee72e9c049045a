import { AccessTokens } from "@messaging-api/domain"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { InvalidRequest } from "../api/ApiErrors.ts"
import { TokenIssuer } from "../TokenIssuer.ts"
import { answering } from "./ErrorAnswers.ts"

export const TokensHandlers = HttpApiBuilder.group(
  Api,
  "tokens",
  Effect.fn(function* (handlers) {
    const tokens = yield* AccessTokens.AccessTokens
    const issuer = yield* TokenIssuer

    return answering(handlers).handleAll({
      create: Effect.fn("Tokens.create")(function* ({ payload }) {
        const installationIds = payload.installationIds ?? null
        const requested: ReadonlyArray<string> = installationIds ?? []
        const created = yield* issuer
          .create({ name: payload.name ?? "", admin: payload.admin ?? false, installationIds })
          .pipe(
            // An id in the body, not in the path: a bad field (400) rather than a 404.
            Effect.catchTag("InstallationNotFound", ({ id }) =>
              Effect.fail(
                new InvalidRequest({
                  error: {
                    code: "unknown_installation",
                    message: `no installation ${id}`,
                    details: [
                      { field: `installationIds.${requested.indexOf(id)}`, message: "no such installation" }
                    ]
                  }
                })
              )
            )
          )
        return { ...created.accessToken, token: created.token }
      }),
      list: () => tokens.list,
      revoke: ({ params }) => tokens.revoke(params.id)
    })
  })
)
