import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { inject } from "vitest"
import { startTcpProxy } from "./TcpProxy.ts"
import {
  adminToken,
  client,
  eventCount,
  makeTestLayer,
  postJson,
  send,
  TestLayer,
  webhookMessage
} from "./TestServer.ts"

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("when Postgres fails", (it) => {
  it.effect("answers 503, writing nothing, /readyz says so, and recovers when it is back", () =>
    Effect.gen(function* () {
      // The server under test reaches Postgres through a proxy the test can cut.
      const proxy = yield* startTcpProxy(new URL(inject("databaseUrl")))
      const admin = yield* client(yield* adminToken)
      const installation = yield* admin.installations.create({
        payload: { bot: { _tag: "echo" }, responseUrl: "http://127.0.0.1:9/", skipVerify: true }
      })
      const { token } = yield* admin.tokens.create({ payload: { installationIds: [installation.id] } })
      const path = `/webhooks/${installation.webhookId}`
      const written = yield* Effect.gen(function* () {
        assert.strictEqual((yield* postJson(path, webhookMessage(), token)).status, 200)
        return yield* eventCount(installation.id)
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
      assert.strictEqual(yield* eventCount(installation.id), written + 2 + 2)
    })
  )
})
