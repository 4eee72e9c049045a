import { assert, layer } from "@effect/vitest"
import { AccessTokens, EndpointGuard } from "@messaging-api/domain"
import { Duration, Effect, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { startReceiver as startLoopbackReceiver } from "./LoopbackReceiver.ts"
import { adminToken, eventCount, makeEngineTestLayer, postJson } from "./TestServer.ts"

// The endpoint guard from the outside: the real server and delivery engine, names resolved by a
// resolver of this test's own. Only 127.0.0.1/32 is opened; any other address is refused. The
// connect hook records every address a connection is about to be made to: the test fails if one
// is ever outside 127.0.0.0/8 (and the hook refuses it, so no traffic leaves loopback).

/** What this file's names resolve to now; `rebind.test` changes during a test. */
const names = new Map<string, string>([
  ["internal.test", "10.0.0.7"],
  ["metadata.test", "169.254.169.254"],
  ["ula.test", "fd00::7"],
  ["mapped.test", "::ffff:127.0.0.2"],
  ["rebind.test", "127.0.0.1"]
])
const outsideLoopback: Array<string> = []

const guard = EndpointGuard.layer({
  allowedNetworks: ["127.0.0.1/32"],
  resolve: async (hostname) => {
    const address = names.get(hostname)
    if (address === undefined) throw new Error(`ENOTFOUND ${hostname}`)
    return [{ address, family: address.includes(":") ? 6 : 4 }]
  },
  beforeConnect: (address) => {
    if (!/^127\./.test(address) && !/^::ffff:127\./.test(address)) {
      outsideLoopback.push(address)
      throw new Error(`test safety net: refused to connect to ${address}`)
    }
  }
})

const mine = new Set<string>()

const TestLayer = makeEngineTestLayer({ mine, guard, delivery: { pollInterval: Duration.millis(50) } })

/**
 * A response endpoint on 127.0.0.1 that answers 200 and closes the connection: every request on a
 * connection of its own, so each one is resolved and checked anew (a kept-alive connection was
 * checked when it was made, to the address it still talks to).
 */
const startReceiver = startLoopbackReceiver(() => ({ status: 200, headers: { connection: "close" } }))

/** Installations whose response endpoint or bot is on a host of this file's refusals (other files share the database). */
const refusedInstallations = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly n: number }>`
    SELECT count(*)::int AS n FROM installations
    WHERE response_url ~ '(127\\.0\\.0\\.2|\\[::1\\]|0\\.0\\.0\\.0|2130706434|\\[::ffff|\\.test/|user:secret)'
       OR bot::text LIKE '%internal.test%'
  `
  return rows[0]!.n
})

const waitFor = <A>(probe: Effect.Effect<A | undefined, unknown, SqlClient.SqlClient>) =>
  probe.pipe(
    Effect.flatMap((value) =>
      value === undefined ? Effect.fail("not yet" as const) : Effect.succeed(value)
    ),
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 500 })
  )

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("endpoint guard", (it) => {
  it.effect(
    "refuses endpoints that are or resolve to refused addresses: 400 endpoint_not_allowed, nothing written",
    () =>
      Effect.gen(function* () {
        const token = yield* adminToken
        const receiver = yield* startReceiver
        const before = yield* refusedInstallations
        const cases: ReadonlyArray<readonly [body: Record<string, unknown>, field: string]> = [
          [{ responseUrl: "http://127.0.0.2:5432/" }, "responseUrl"],
          [{ responseUrl: "http://[::1]:6379/" }, "responseUrl"],
          [{ responseUrl: "http://0.0.0.0/" }, "responseUrl"],
          [{ responseUrl: "http://2130706434/" }, "responseUrl"],
          [{ responseUrl: "http://[::ffff:a00:1]/" }, "responseUrl"],
          [{ responseUrl: "http://internal.test/hook" }, "responseUrl"],
          [{ responseUrl: "http://metadata.test/latest/meta-data/" }, "responseUrl"],
          [{ responseUrl: "http://ula.test/" }, "responseUrl"],
          [{ responseUrl: "http://mapped.test/" }, "responseUrl"],
          [{ responseUrl: "http://nowhere.test/" }, "responseUrl"],
          [{ responseUrl: "http://internal.test/hook", skipVerify: true }, "responseUrl"],
          [
            {
              responseUrl: `${receiver.url}/replies`,
              bot: { _tag: "http", url: "http://internal.test/bot" }
            },
            "bot.url"
          ],
          [
            {
              responseUrl: `${receiver.url}/replies`,
              bot: { _tag: "llm", baseUrl: "http://metadata.test/v1", model: "m", apiKey: "k" }
            },
            "bot.baseUrl"
          ],
          [
            { responseUrl: null, bot: { _tag: "llm", baseUrl: "http://10.0.0.7/v1", model: "m" } },
            "bot.baseUrl"
          ]
        ]
        for (const [body, field] of cases) {
          const response = yield* postJson("/v1/installations", { bot: { _tag: "echo" }, ...body }, token)
          assert.strictEqual(response.status, 400, JSON.stringify(body))
          assert.strictEqual(response.json.error.code, "endpoint_not_allowed", JSON.stringify(body))
          assert.strictEqual(response.json.error.details[0].field, field)
        }
        // A URL with credentials is refused as invalid, never stored or listed.
        const credentials = yield* postJson(
          "/v1/installations",
          { bot: { _tag: "echo" }, responseUrl: `http://user:secret@127.0.0.1:${receiver.port}/` },
          token
        )
        assert.strictEqual(credentials.status, 400)
        assert.strictEqual(yield* refusedInstallations, before)
        assert.deepStrictEqual(receiver.arrivals, [], "no test message went anywhere")
        assert.deepStrictEqual(outsideLoopback, [])
      })
  )

  it.effect(
    "checks the address again at every connection: a name rebound to a refused address is not called",
    () =>
      Effect.gen(function* () {
        const token = yield* adminToken
        const receiver = yield* startReceiver
        names.set("rebind.test", "127.0.0.1")
        const created = yield* postJson(
          "/v1/installations",
          {
            bot: { _tag: "echo" },
            responseUrl: `http://rebind.test:${receiver.port}/replies`,
            retrySchedule: Array.from({ length: 20 }, () => 20)
          },
          token
        )
        assert.strictEqual(created.status, 201, created.text)
        mine.add(created.json.id)
        assert.strictEqual(receiver.arrivals.length, 1, "the test message reached the endpoint")

        // The name now points elsewhere on loopback, outside what was opened.
        names.set("rebind.test", "127.0.0.2")
        const tokens = yield* AccessTokens.AccessTokens
        const limited = yield* tokens.create({
          name: "app",
          admin: false,
          installationIds: [created.json.id]
        })
        const accepted = yield* postJson(
          `/webhooks/${created.json.webhookId}`,
          { userId: "u", messageId: "m-1", conversationId: "c-1", type: "text", text: "hello" },
          limited.token
        )
        assert.strictEqual(accepted.status, 200, accepted.text)
        const sql = yield* SqlClient.SqlClient
        const refusal = yield* waitFor(
          sql<{ readonly error: string }>`
          SELECT data->>'error' AS error FROM events
          WHERE type = 'DeliveryAttemptFailed' AND stream_id = (
            SELECT stream_id FROM events
            WHERE type = 'ConversationStarted' AND data->>'installationId' = ${created.json.id}
          )
          LIMIT 1
        `.pipe(Effect.map((rows) => rows[0]?.error))
        )
        assert.include(refusal, "not allowed")
        assert.include(refusal, "127.0.0.2")
        assert.strictEqual(receiver.arrivals.length, 1, "nothing was delivered to the rebound address")

        // Pointed back at the opened address, the next retry delivers.
        names.set("rebind.test", "127.0.0.1")
        yield* waitFor(Effect.sync(() => (receiver.arrivals.length >= 2 ? true : undefined)))
        assert.strictEqual(JSON.parse(receiver.arrivals[1]!.body).payload.text, "hello")
        assert.isAbove(yield* eventCount(created.json.id), 3)
        assert.deepStrictEqual(outsideLoopback, [])
      })
  )

  it.effect("a refusal names the address's class, never what answers on the port", () =>
    Effect.gen(function* () {
      const token = yield* adminToken
      const refusal = (responseUrl: string) =>
        postJson("/v1/installations", { bot: { _tag: "echo" }, responseUrl }, token)
      const nothingThere = yield* refusal("http://127.0.0.2:1/")
      const postgres = yield* refusal("http://127.0.0.2:5432/")
      assert.strictEqual(nothingThere.status, 400)
      assert.strictEqual(postgres.status, 400)
      assert.strictEqual(nothingThere.json.error.message, postgres.json.error.message.replace(":5432", ":1"))
      assert.include(postgres.json.error.message, "loopback")
    })
  )
})
