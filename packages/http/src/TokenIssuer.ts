import { AccessTokens, Installations } from "@messaging-api/domain"
import { Context, Effect, Layer } from "effect"
import type { SqlError } from "effect/sql"

export interface TokenRequest {
  readonly name: string
  /** May use the /v1 admin API (and every installation's webhook). */
  readonly admin: boolean
  /** The installations whose webhooks the token may call, by id; null = all of them. */
  readonly installationIds: ReadonlyArray<string> | null
}

/**
 * Issuing personal access tokens, as the admin API and the CLI both do it: a token limited to an
 * installation that does not exist is a typo, not a wish, so every id must name a live one.
 */
export class TokenIssuer extends Context.Service<
  TokenIssuer,
  {
    create(
      request: TokenRequest
    ): Effect.Effect<
      AccessTokens.CreatedAccessToken,
      Installations.InstallationNotFound | AccessTokens.AdminTokenRestricted | SqlError.SqlError
    >
  }
>()("@messaging-api/http/TokenIssuer") {
  static readonly layer = Layer.effect(
    TokenIssuer,
    Effect.gen(function* () {
      const tokens = yield* AccessTokens.AccessTokens
      const installations = yield* Installations.Installations

      const create = Effect.fn("TokenIssuer.create")(function* (request: TokenRequest) {
        const installationIds =
          request.installationIds === null
            ? null
            : yield* Effect.forEach(request.installationIds, (id) =>
                installations.get(id).pipe(Effect.map((installation) => installation.id))
              )
        return yield* tokens.create({ name: request.name, admin: request.admin, installationIds })
      })

      return TokenIssuer.of({ create })
    })
  )
}
