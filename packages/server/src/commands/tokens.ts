import { AccessTokens, Installations } from "@messaging-api/domain"
import { TokenIssuer } from "@messaging-api/http"
import { Console, Effect, Layer, Option, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { DatabaseWithConfig } from "../DatabaseLive.ts"
import { json } from "./JsonFlag.ts"
import { formatTable } from "./TextTable.ts"

/**
 * `messaging-api tokens create|list|revoke`: personal access tokens, from the shell.
 *
 * What a created token may do:
 * - `--installation ID` (repeatable): call the webhooks of those installations only;
 * - neither flag: call the webhook of every installation (present and future), no admin API;
 * - `--admin`: the /v1 admin API and every webhook (not combinable with `--installation`).
 */

const TokensLive = TokenIssuer.TokenIssuer.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(AccessTokens.AccessTokens.layer, Installations.Installations.layer)),
  Layer.provideMerge(DatabaseWithConfig)
)

/** What `create --json` prints: the token (shown this once) and the id that revokes it. */
const CreatedJson = Schema.Struct({ id: Schema.String, token: Schema.String })
const encodeCreated = Schema.encodeSync(Schema.fromJsonString(CreatedJson))
const encodeList = Schema.encodeSync(Schema.fromJsonString(Schema.Array(AccessTokens.AccessToken)))

const describeScope = (token: AccessTokens.AccessToken) =>
  token.admin
    ? "admin API and every webhook"
    : token.installationIds === null
      ? "every installation's webhook"
      : `webhooks of ${token.installationIds.join(", ")}`

const create = Command.make(
  "create",
  {
    installations: Flag.String("installation").pipe(
      Flag.atLeast(0),
      Flag.withDescription("Limit the token to this installation's webhook (repeatable); default: all")
    ),
    admin: Flag.Boolean("admin").pipe(
      Flag.withDefault(false),
      Flag.withDescription("Allow the /v1 admin API (and every webhook); not with --installation")
    ),
    name: Flag.String("name").pipe(
      Flag.optional,
      Flag.withDescription("A label to recognise it by in `list`")
    ),
    json
  },
  (flags) =>
    Effect.gen(function* () {
      const issuer = yield* TokenIssuer.TokenIssuer
      const created = yield* issuer.create({
        name: Option.getOrElse(flags.name, () => ""),
        admin: flags.admin,
        installationIds: flags.installations.length === 0 ? null : flags.installations
      })
      if (flags.json) {
        return yield* Console.log(encodeCreated({ id: created.accessToken.id, token: created.token }))
      }
      yield* Console.log(
        [
          `Created access token ${created.accessToken.id} (${describeScope(created.accessToken)}):`,
          "",
          `  ${created.token}`,
          "",
          "It is shown this once: store it now. Send it as `Authorization: Bearer <token>`.",
          `Revoke it with: messaging-api tokens revoke ${created.accessToken.id}`
        ].join("\n")
      )
    }).pipe(Effect.provide(TokensLive))
).pipe(
  Command.withDescription("Create a personal access token (printed once)"),
  Command.withExamples([
    {
      command: "messaging-api tokens create --installation $INSTALLATION_ID --name my-backend",
      description: "A token for one installation's webhook"
    },
    { command: "messaging-api tokens create --admin --json", description: "An admin token, as JSON" }
  ])
)

const list = Command.make("list", { json }, (flags) =>
  Effect.gen(function* () {
    const tokens = yield* AccessTokens.AccessTokens
    const all = yield* tokens.list
    if (flags.json) return yield* Console.log(encodeList(all))
    if (all.length === 0)
      return yield* Console.log("No access tokens. Create one with: messaging-api tokens create")
    yield* Console.log(
      formatTable(
        ["ID", "NAME", "MAY USE", "CREATED", "REVOKED"],
        all.map((token) => [
          token.id,
          token.name === "" ? "-" : token.name,
          describeScope(token),
          token.createdAt,
          token.revokedAt ?? "-"
        ])
      )
    )
  }).pipe(Effect.provide(TokensLive))
).pipe(Command.withDescription("List access tokens (never their secrets)"))

const revoke = Command.make(
  "revoke",
  { id: Argument.String("id").pipe(Argument.withDescription("The token's id, as `tokens list` shows it")) },
  ({ id }) =>
    Effect.gen(function* () {
      const tokens = yield* AccessTokens.AccessTokens
      const revoked = yield* tokens.revoke(id)
      yield* Console.log(`Revoked access token ${revoked.id} (at ${revoked.revokedAt})`)
    }).pipe(Effect.provide(TokensLive))
).pipe(Command.withDescription("Revoke an access token: requests with it get 401 within a second"))

export const tokensCommand = Command.make("tokens").pipe(
  Command.withDescription("Create, list and revoke personal access tokens"),
  Command.withSubcommands([create, list, revoke])
)
