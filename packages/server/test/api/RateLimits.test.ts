import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import {
  eventCount,
  installationWithToken,
  makeTestLayer,
  postJson,
  send,
  webhookMessage
} from "./TestServer.ts"

/**
 * Per-caller limits in front of every route: webhook requests per token, failed authentications
 * per client address. Over either: 429 `rate_limited` with Retry-After, and nothing written.
 */

const TestLayer = makeTestLayer(inject("databaseUrl"), {
  rateLimitPerToken: { limit: 3, window: "1 minute" },
  authFailuresPerIp: { limit: 3, window: "1 minute" }
})

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("rate limits", (it) => {
  it.effect(
    "limits webhook requests per token (429 with Retry-After, nothing written), not per installation",
    () =>
      Effect.gen(function* () {
        const first = yield* installationWithToken
        const statuses: Array<number> = []
        for (let i = 0; i < 3; i++)
          statuses.push((yield* postJson(first.webhookPath, webhookMessage(), first.token)).status)
        assert.deepStrictEqual(statuses, [200, 200, 200])
        const written = yield* eventCount(first.installationId)

        const refused = yield* postJson(first.webhookPath, webhookMessage(), first.token)
        assert.strictEqual(refused.status, 429, refused.text)
        assert.strictEqual(refused.json.error.code, "rate_limited")
        assert.isAbove(Number(refused.headers.get("retry-after")), 0)
        assert.strictEqual(yield* eventCount(first.installationId), written)

        // Another token has a bucket of its own.
        const second = yield* installationWithToken
        assert.strictEqual((yield* postJson(second.webhookPath, webhookMessage(), second.token)).status, 200)

        // Past the failed-authentication limit, the address is refused everything for a while.
        // Tokens of ids that do not exist, each a new one (a token id has a request bucket of its own too).
        const bad = () => `mapi_${randomUUID().replaceAll("-", "").slice(0, 16)}_${"A".repeat(43)}`
        const failures: Array<number> = []
        for (let i = 0; i < 4; i++)
          failures.push((yield* postJson(second.webhookPath, webhookMessage(), bad())).status)
        assert.deepStrictEqual(failures, [401, 401, 401, 401])
        const blocked = yield* postJson(second.webhookPath, webhookMessage(), bad())
        assert.strictEqual(blocked.status, 429, blocked.text)
        assert.strictEqual(blocked.json.error.code, "rate_limited")
        assert.isAbove(Number(blocked.headers.get("retry-after")), 0)
        const evenWithoutAToken = yield* send("GET", "/readyz")
        assert.strictEqual(evenWithoutAToken.status, 429)
      })
  )
})
