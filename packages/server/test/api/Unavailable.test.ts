import { randomBytes } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { startTcpProxy } from "./TcpProxy.ts"
import {
  adminToken,
  client,
  eventCount,
  installationWithToken,
  makeTestLayer,
  postJson,
  send,
  TestLayer,
  webhookMessage
} from "./TestServer.ts"

/** A proxy to Postgres the test can cut (the server under test is built over it), and a webhook with its token. */
const proxiedWebhook = Effect.gen(function* () {
  const proxy = yield* startTcpProxy(new URL(inject("databaseUrl")))
  const { installationId, webhookPath, token } = yield* installationWithToken
  return { proxy, installationId, token, path: webhookPath }
})

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("when Postgres fails", (it) => {
  it.effect("answers 503, writing nothing, /readyz says so, and recovers when it is back", () =>
    Effect.gen(function* () {
      const { proxy, installationId, token, path } = yield* proxiedWebhook
      const written = yield* Effect.gen(function* () {
        assert.strictEqual((yield* postJson(path, webhookMessage(), token)).status, 200)
        return yield* eventCount(installationId)
      })

      yield* Effect.gen(function* () {
        assert.strictEqual((yield* postJson(path, webhookMessage(), token)).status, 200)

        yield* proxy.down
        const down = yield* postJson(path, webhookMessage(), token)
        assert.strictEqual(down.status, 503, down.text)
        // Whichever step meets the outage first answers (token and installation lookups may be cached).
        assert.include(["database_unavailable", "conversation_unavailable"], down.json.error.code)
        const ready = yield* send("GET", "/readyz")
        assert.strictEqual(ready.status, 503, ready.text)
        assert.strictEqual((yield* send("GET", "/healthz")).status, 200)
        // Authentication reads no database: an unknown token id and a known one with a wrong secret
        // are refused alike (401), with the same work, even now.
        const knownId = token.slice(0, "mapi_".length + 16)
        for (const presented of [
          `mapi_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`,
          `${knownId}_${randomBytes(32).toString("base64url")}`
        ]) {
          const refused = yield* postJson(path, webhookMessage(), presented)
          assert.strictEqual(refused.status, 401, refused.text)
        }

        yield* proxy.up
        // The pool reconnects on its own: the same request is accepted again within a few tries.
        let again = yield* postJson(path, webhookMessage(), token)
        for (let tries = 0; again.status !== 200 && tries < 50; tries++) {
          yield* Effect.sleep("100 millis")
          again = yield* postJson(path, webhookMessage(), token)
        }
        assert.strictEqual(again.status, 200, again.text)
      }).pipe(Effect.provide(Layer.fresh(makeTestLayer(proxy.url))))

      // One new conversation (2 events) before the outage and one after: nothing from the refused one.
      assert.strictEqual(yield* eventCount(installationId), written + 2 + 2)
    })
  )
})

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("when Postgres stops answering", (it) => {
  it.effect("answers 503 within the database timeout instead of hanging, /readyz too, and recovers", () =>
    Effect.gen(function* () {
      // Connections stay open but nothing comes back: no reset tells the pool the server is gone.
      const { proxy, token, path } = yield* proxiedWebhook
      const cutOff = webhookMessage()

      yield* Effect.gen(function* () {
        assert.strictEqual((yield* postJson(path, webhookMessage(), token)).status, 200)
        const adminHere = yield* client(yield* adminToken)
        assert.strictEqual((yield* adminHere.installations.list()).length > 0, true)

        yield* proxy.hang
        const hung = yield* postJson(path, cutOff, token)
        assert.strictEqual(hung.status, 503, hung.text)
        assert.strictEqual(hung.json.error.code, "database_unavailable")
        const history = yield* send("GET", "/v1/conversations", {
          headers: { authorization: `Bearer ${token}` }
        })
        assert.strictEqual(history.status, 503, history.text)
        const ready = yield* send("GET", "/readyz")
        assert.strictEqual(ready.status, 503, ready.text)

        yield* proxy.answer
        // The cut-off request may have committed once the database answered again: its retry with
        // the same message id is accepted either way, and stored once.
        let again = yield* postJson(path, cutOff, token)
        for (let tries = 0; again.status !== 200 && tries < 50; tries++) {
          yield* Effect.sleep("100 millis")
          again = yield* postJson(path, cutOff, token)
        }
        assert.strictEqual(again.status, 200, again.text)
        assert.strictEqual((yield* send("GET", "/readyz")).status, 200)
      }).pipe(Effect.provide(Layer.fresh(makeTestLayer(proxy.url, { databaseTimeout: "300 millis" }))))

      const sql = yield* SqlClient.SqlClient
      const stored = yield* sql<{ readonly n: number }>`
        SELECT count(*)::int AS n FROM events
        WHERE type = 'UserMessageReceived' AND data->>'externalMessageId' = ${cutOff.messageId}
      `
      assert.strictEqual(stored[0]!.n, 1)
    })
  )
})
