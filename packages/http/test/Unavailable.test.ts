import { randomBytes, randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { adminToken, client, eventCount, makeTestLayer, postJson, send, TestLayer } from "./TestServer.ts"

const message = () => ({
  userId: "user",
  messageId: `message-${randomUUID()}`,
  conversationId: `conversation-${randomUUID()}`,
  type: "text",
  text: "Hello"
})

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("when Postgres fails", (it) => {
  it.effect("answers 503, writing nothing, and /readyz says so", () =>
    Effect.gen(function* () {
      // A database of its own, so it can be broken and then dropped without touching other tests.
      const server = yield* SqlClient.SqlClient
      const name = `messaging_api_down_${randomBytes(4).toString("hex")}`
      yield* server.unsafe(`CREATE DATABASE ${name}`)
      const url = new URL(inject("databaseUrl"))
      url.pathname = `/${name}`

      yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const admin = yield* client(yield* adminToken)
        const installation = yield* admin.installations.create({
          payload: { bot: { _tag: "echo" }, responseUrl: "http://127.0.0.1:9/", skipVerify: true }
        })
        const { token } = yield* admin.tokens.create({ payload: { installationIds: [installation.id] } })
        const path = `/webhooks/${installation.webhookId}`
        assert.strictEqual((yield* postJson(path, message(), token)).status, 200)
        const written = yield* eventCount(installation.id)

        // The event log cannot be written: the message is refused, not half-accepted.
        yield* sql`ALTER TABLE events RENAME TO events_away`
        const refused = yield* postJson(path, message(), token)
        yield* sql`ALTER TABLE events_away RENAME TO events`
        assert.strictEqual(refused.status, 503, refused.text)
        assert.strictEqual(refused.json.error.code, "conversation_unavailable")
        assert.strictEqual(yield* eventCount(installation.id), written)

        // The database goes away altogether.
        yield* server.unsafe(`DROP DATABASE ${name} WITH (FORCE)`)
        yield* Effect.sleep("600 millis")
        const down = yield* postJson(path, message(), token)
        assert.strictEqual(down.status, 503, down.text)
        assert.strictEqual(down.json.error.code, "database_unavailable")
        const ready = yield* send("GET", "/readyz")
        assert.strictEqual(ready.status, 503, ready.text)
        assert.strictEqual((yield* send("GET", "/healthz")).status, 200)
      }).pipe(Effect.provide(Layer.fresh(makeTestLayer(url.toString()))))
      yield* server.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    })
  )
})
