import { randomBytes, randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { AccessTokens, Database } from "@messaging-api/domain"
import { Effect, Layer } from "effect"
import { inject } from "vitest"

const TestLayer = AccessTokens.AccessTokens.layer.pipe(
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 4 }))
)

/** A seed name of its own, so these tests never revoke a token another test file seeded. */
const seedName = () => `test seed ${randomUUID()}`
const seedToken = () => randomBytes(24).toString("base64url")

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("AccessTokens", (it) => {
  it.effect("authenticates a created token and nothing else", () =>
    Effect.gen(function* () {
      const tokens = yield* AccessTokens.AccessTokens
      const { accessToken, token } = yield* tokens.create({ name: "t", admin: false, installationIds: null })
      assert.strictEqual((yield* tokens.authenticate(token)).id, accessToken.id)
      for (const wrong of ["", token.slice(0, -1), `${token}x`, token.replace("mapi_", "mapi-"), "mapi_"]) {
        const refused = yield* Effect.flip(tokens.authenticate(wrong))
        assert.strictEqual(refused._tag, "InvalidAccessToken", wrong)
      }
    })
  )

  it.effect("refuses a revoked token at once in the process that revoked it", () =>
    Effect.gen(function* () {
      const tokens = yield* AccessTokens.AccessTokens
      const { accessToken, token } = yield* tokens.create({ name: "t", admin: false, installationIds: null })
      yield* tokens.authenticate(token)
      yield* tokens.revoke(accessToken.id)
      assert.strictEqual((yield* Effect.flip(tokens.authenticate(token)))._tag, "InvalidAccessToken")
      // Revoking twice is fine and keeps the first revocation time.
      const again = yield* tokens.revoke(accessToken.id)
      assert.strictEqual(again.revokedAt, (yield* tokens.get(accessToken.id)).revokedAt)
    })
  )

  it.effect("never makes an admin token limited to some installations", () =>
    Effect.gen(function* () {
      const tokens = yield* AccessTokens.AccessTokens
      const refused = yield* Effect.flip(
        tokens.create({ name: "t", admin: true, installationIds: [randomUUID() as never] })
      )
      assert.strictEqual(refused._tag, "AdminTokenRestricted")
    })
  )

  it.effect("seeds an operator's token as an admin token, idempotently", () =>
    Effect.gen(function* () {
      const tokens = yield* AccessTokens.AccessTokens
      const name = seedName()
      const raw = seedToken()
      const seeded = yield* tokens.ensureSeeded(raw, name)
      assert.isTrue(seeded.admin)
      assert.strictEqual(seeded.source, "environment")
      assert.strictEqual(seeded.id, AccessTokens.tokenIdOf(raw))
      assert.strictEqual((yield* tokens.ensureSeeded(raw, name)).id, seeded.id)
      assert.strictEqual((yield* tokens.authenticate(raw)).id, seeded.id)
    })
  )

  it.effect("revokes the token seeded before, and never brings a revoked one back", () =>
    Effect.gen(function* () {
      const tokens = yield* AccessTokens.AccessTokens
      const name = seedName()
      const first = seedToken()
      const second = seedToken()
      yield* tokens.ensureSeeded(first, name)
      yield* tokens.ensureSeeded(second, name)
      assert.strictEqual((yield* Effect.flip(tokens.authenticate(first)))._tag, "InvalidAccessToken")
      yield* tokens.authenticate(second)

      const reseeded = yield* Effect.flip(tokens.ensureSeeded(first, name))
      assert.strictEqual(reseeded._tag, "InvalidSeedToken")
      // The failed attempt changed nothing.
      yield* tokens.authenticate(second)
    })
  )

  it.effect("refuses a seed token shorter than 16 characters", () =>
    Effect.gen(function* () {
      const tokens = yield* AccessTokens.AccessTokens
      const refused = yield* Effect.flip(tokens.ensureSeeded("too-short", seedName()))
      assert.strictEqual(refused._tag, "InvalidSeedToken")
    })
  )
})
