import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { InstallationId } from "./Ids.ts"
import { InstantFromDate } from "./Instant.ts"
import * as LiveTokens from "./LiveTokens.ts"
import * as OwnRows from "./OwnRows.ts"
import { hashMatches, newToken, sha256, tokenIdOf } from "./TokenSecrets.ts"
import { hotSpan } from "./Tracing.ts"

export { tokenIdOf } from "./TokenSecrets.ts"

/**
 * Personal access tokens: the tokens as the API shows them, and the service that creates, lists,
 * revokes and authenticates them. The token string (its format, its hash) is `TokenSecrets.ts`;
 * authentication reads the copy of the live tokens in `LiveTokens.ts` (a revoked token refused
 * within a second, a new one accepted at once, the same work and wait for every refusal).
 */

/** The name of the token seeded from the environment, unless told otherwise. */
const defaultSeedName = "MESSAGING_API_ADMIN_TOKEN"

/** Seeded tokens (given by the operator) must be at least this long. */
export const minimumSeedLength = 16

export const AccessTokenSource = Schema.Literals(["api", "environment"])
export type AccessTokenSource = typeof AccessTokenSource.Type

export class AccessToken extends Schema.Class<AccessToken>("AccessToken")({
  id: Schema.String,
  name: Schema.String,
  /** Admin tokens may use the /v1 admin API. */
  admin: Schema.Boolean,
  /** The installations whose webhooks the token may call; null = all of them. */
  installationIds: Schema.NullOr(Schema.Array(InstallationId)),
  /** `api` for tokens created through the API or CLI, `environment` for the seeded admin token. */
  source: AccessTokenSource,
  createdAt: Schema.String,
  revokedAt: Schema.NullOr(Schema.String)
}) {
  /** Whether this token may post to the webhook of an installation. */
  allows(installationId: string): boolean {
    return this.installationIds === null || this.installationIds.includes(installationId as InstallationId)
  }
}

export interface NewAccessToken {
  readonly name: string
  readonly admin: boolean
  readonly installationIds: ReadonlyArray<InstallationId> | null
}

/** A freshly created token: the only time its secret is ever shown. */
export interface CreatedAccessToken {
  readonly accessToken: AccessToken
  readonly token: string
}

/** Missing, unknown, malformed or revoked: callers learn nothing more than "not valid". */
export class InvalidAccessToken extends Schema.TaggedError<InvalidAccessToken>()("InvalidAccessToken", {}) {}

export class AccessTokenNotFound extends Schema.TaggedError<AccessTokenNotFound>()("AccessTokenNotFound", {
  id: Schema.String
}) {}

/** An admin token cannot be limited to some installations: admin rights reach every installation. */
export class AdminTokenRestricted extends Schema.TaggedError<AdminTokenRestricted>()(
  "AdminTokenRestricted",
  {}
) {}

/** The operator's seed token is too short, was revoked, or collides with a token that is not one. */
export class InvalidSeedToken extends Schema.TaggedError<InvalidSeedToken>()("InvalidSeedToken", {
  message: Schema.String
}) {}

/**
 * An access_tokens row, selected under the token's names (`columns`): the token as the API shows
 * it, with its times read from timestamptz, and the hash it is checked against.
 */
const AccessTokenRow = Schema.Struct({
  ...AccessToken.fields,
  createdAt: InstantFromDate,
  revokedAt: Schema.NullOr(InstantFromDate),
  secretHash: Schema.String
})
type AccessTokenRow = typeof AccessTokenRow.Type

const tokenOf = ({ secretHash: _, ...token }: AccessTokenRow): AccessToken => new AccessToken(token)

const liveTokenOf = (row: AccessTokenRow): LiveTokens.LiveToken<AccessToken> => ({
  token: tokenOf(row),
  hash: Buffer.from(row.secretHash, "hex")
})

export class AccessTokens extends Context.Service<
  AccessTokens,
  {
    create(input: NewAccessToken): Effect.Effect<CreatedAccessToken, AdminTokenRestricted | SqlError.SqlError>
    readonly list: Effect.Effect<ReadonlyArray<AccessToken>, SqlError.SqlError>
    get(id: string): Effect.Effect<AccessToken, AccessTokenNotFound | SqlError.SqlError>
    /** Revokes a token (a no-op for one already revoked). */
    revoke(id: string): Effect.Effect<AccessToken, AccessTokenNotFound | SqlError.SqlError>
    /** The live token a presented string belongs to. */
    authenticate(token: string): Effect.Effect<AccessToken, InvalidAccessToken | SqlError.SqlError>
    /**
     * Makes an operator-chosen string (e.g. MESSAGING_API_ADMIN_TOKEN) an admin token named `name`,
     * and revokes the tokens seeded under that name before it. A seeded token revoked through the
     * API stays revoked (seeding it again fails): choose a new string to get a new one.
     */
    ensureSeeded(
      token: string,
      name?: string
    ): Effect.Effect<AccessToken, InvalidSeedToken | SqlError.SqlError>
  }
>()("@messaging-api/domain/AccessTokens") {
  static readonly layer = Layer.effect(
    AccessTokens,
    Effect.gen(function* () {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const columns = sql`id, name, secret_hash AS "secretHash", admin, installation_ids AS "installationIds",
        source, created_at AS "createdAt", revoked_at AS "revokedAt"`

      const rowById = OwnRows.findOneOption({
        Request: Schema.String,
        Result: AccessTokenRow,
        execute: (id) => sql`SELECT ${columns} FROM access_tokens WHERE id = ${id}`
      })
      const liveRows = OwnRows.findAll({
        Request: Schema.Void,
        Result: AccessTokenRow,
        execute: () => sql`SELECT ${columns} FROM access_tokens WHERE revoked_at IS NULL`
      })
      const allRows = OwnRows.findAll({
        Request: Schema.Void,
        Result: AccessTokenRow,
        execute: () => sql`SELECT ${columns} FROM access_tokens ORDER BY created_at, id`
      })
      const insertRow = OwnRows.returning({
        Request: Schema.Struct({
          id: Schema.String,
          name: Schema.String,
          secretHash: Schema.String,
          admin: Schema.Boolean,
          installationIds: Schema.NullOr(Schema.Array(Schema.String))
        }),
        Result: AccessTokenRow,
        execute: (row) => sql`
          INSERT INTO access_tokens (id, name, secret_hash, admin, installation_ids, source)
          VALUES (${row.id}, ${row.name}, ${row.secretHash}, ${row.admin},
                  ${row.installationIds === null ? null : JSON.stringify(row.installationIds)}::jsonb, 'api')
          RETURNING ${columns}
        `
      })

      const live = yield* LiveTokens.make(
        liveRows().pipe(Effect.map((rows) => rows.map((row) => [row.id, liveTokenOf(row)] as const)))
      )

      const create = Effect.fn("AccessTokens.create")(function* (input: NewAccessToken) {
        if (input.admin && input.installationIds !== null) return yield* new AdminTokenRestricted()
        const { id, token } = newToken()
        const inserted = liveTokenOf(
          yield* insertRow({
            id,
            name: input.name,
            secretHash: sha256(token).toString("hex"),
            admin: input.admin,
            installationIds: input.installationIds
          })
        )
        live.set(id, inserted)
        return { accessToken: inserted.token, token }
      })

      const list = allRows().pipe(
        Effect.map((rows) => rows.map(tokenOf)),
        Effect.withSpan("AccessTokens.list")
      )

      const get = Effect.fn("AccessTokens.get")(function* (id: string) {
        const row = yield* rowById(id)
        if (Option.isNone(row)) return yield* new AccessTokenNotFound({ id })
        return tokenOf(row.value)
      })

      const revoke = Effect.fn("AccessTokens.revoke")(function* (id: string) {
        yield* sql`UPDATE access_tokens SET revoked_at = now() WHERE id = ${id} AND revoked_at IS NULL`
        live.delete(id)
        return yield* get(id)
      })

      const authenticate = Effect.fnUntraced(function* (token: string) {
        let accessToken = live.accepted(token)
        if (accessToken === undefined) {
          yield* live.fresh
          accessToken = live.accepted(token)
        }
        if (accessToken === undefined) return yield* new InvalidAccessToken()
        return accessToken
      }, hotSpan("AccessTokens.authenticate"))

      const ensureSeeded = Effect.fn("AccessTokens.ensureSeeded")(function* (
        token: string,
        name: string = defaultSeedName
      ) {
        if (token.length < minimumSeedLength) {
          return yield* new InvalidSeedToken({
            message: `the admin token must be at least ${minimumSeedLength} characters long`
          })
        }
        const id = tokenIdOf(token)
        const seeded = yield* sql.withTransaction(
          Effect.gen(function* () {
            yield* sql`
              INSERT INTO access_tokens (id, name, secret_hash, admin, installation_ids, source)
              VALUES (${id}, ${name}, ${sha256(token).toString("hex")}, true, NULL, 'environment')
              ON CONFLICT (id) DO NOTHING
            `
            const row = yield* rowById(id)
            if (
              Option.isNone(row) ||
              !hashMatches(Buffer.from(row.value.secretHash, "hex"), sha256(token)) ||
              !row.value.admin
            ) {
              return yield* new InvalidSeedToken({ message: "the admin token collides with another token" })
            }
            if (row.value.revokedAt !== null) {
              return yield* new InvalidSeedToken({
                message: "this admin token was revoked; choose a new one"
              })
            }
            yield* sql`
              UPDATE access_tokens SET revoked_at = now()
              WHERE source = 'environment' AND name = ${name} AND id <> ${id} AND revoked_at IS NULL
            `
            return row.value
          })
        )
        yield* live.reload
        return tokenOf(seeded)
      })

      return AccessTokens.of({ create, list, get, revoke, authenticate, ensureSeeded })
    })
  )
}
