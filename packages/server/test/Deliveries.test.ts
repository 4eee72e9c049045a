import { randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { succeeded } from "./CliResult.ts"
import { fileDatabaseUrl } from "./FileDatabase.ts"
import { type Arrival, startReceiver } from "./Receiver.ts"
import { converse, eventually, installationWithToken, request } from "./ServerApi.ts"
import { runCli, startServer } from "./ServerProcess.ts"

// Dead letters and redelivery end to end: a real `serve` process, a real response endpoint on
// 127.0.0.1, the HTTP API and the `messaging-api deliveries` CLI as an operator runs them; and
// SIGTERM with an attempt in flight.

const databaseUrl = await fileDatabaseUrl()

const accepted = (arrivals: ReadonlyArray<Arrival>, webhookId: string) =>
  arrivals.some((arrival) => arrival.webhookId === webhookId && arrival.answer === 200)

/** An echo installation delivering to `responseUrl` (millisecond retries), a token limited to it, and a message sent. */
const conversationWithReply = (server: { readonly url: string }, responseUrl: string) =>
  Effect.gen(function* () {
    const target = yield* installationWithToken(server.url, {
      bot: { _tag: "echo" },
      responseUrl,
      retrySchedule: "10ms,20ms"
    })
    const conversationId = yield* converse(target, ["reply to me"])
    return { installationId: target.id, token: target.token, conversationId }
  })

/** The installation's dead letters as `GET /v1/deliveries` lists them, once there is one. */
const deadLetters = (serverUrl: string, installationId: string, token: string) =>
  eventually(
    request("GET", `${serverUrl}/v1/deliveries?dead=true&installationId=${installationId}`, token).pipe(
      Effect.map((listed) => {
        assert.strictEqual(listed.status, 200, listed.text)
        return listed.json.length > 0 ? (listed.json as ReadonlyArray<Record<string, unknown>>) : undefined
      })
    )
  )

describe("dead letters and redelivery", () => {
  it.live(
    "a permanent 4xx dead-letters the reply; POST /v1/deliveries/{id}/redeliver delivers it",
    () =>
      Effect.gen(function* () {
        const receiver = yield* startReceiver(() => 404)
        const server = yield* startServer({ DATABASE_URL: databaseUrl, MIN_RETRY_DELAY: "1 millis" })
        const mine = yield* conversationWithReply(server, receiver.url)
        const other = yield* conversationWithReply(server, receiver.url)

        const dead = yield* deadLetters(server.url, mine.installationId, mine.token)
        assert.strictEqual(dead.length, 1)
        const messageId = String(dead[0]!.messageId)
        assert.deepInclude(dead[0]!, {
          conversationId: mine.conversationId,
          installationId: mine.installationId,
          type: "text",
          payload: { text: "reply to me" },
          status: "dead_lettered",
          attempts: 1,
          lastStatus: 404,
          lastError: "HTTP 404",
          redeliveries: 0
        })
        // Not retried: one attempt only.
        assert.deepStrictEqual(
          receiver.arrivals
            .filter((arrival) => arrival.webhookId === messageId)
            .map((arrival) => arrival.answer),
          [404]
        )

        // Another installation's token sees nothing of it; an unknown id is not found either.
        const redeliverUrl = `${server.url}/v1/deliveries/${messageId}/redeliver`
        const foreign = yield* request("POST", redeliverUrl, other.token)
        assert.strictEqual(foreign.status, 404, foreign.text)
        assert.strictEqual(foreign.json.error.code, "message_not_found")
        const unknown = yield* request(
          "POST",
          `${server.url}/v1/deliveries/${randomUUID()}/redeliver`,
          mine.token
        )
        assert.strictEqual(unknown.status, 404, unknown.text)
        const peek = yield* request(
          "GET",
          `${server.url}/v1/deliveries?installationId=${mine.installationId}`,
          other.token
        )
        assert.strictEqual(peek.status, 404, peek.text)
        assert.strictEqual(peek.json.error.code, "installation_not_found")
        const othersOwn = yield* request("GET", `${server.url}/v1/deliveries?dead=true`, other.token)
        assert.isTrue(
          othersOwn.json.every(
            (record: Record<string, unknown>) => record.installationId === other.installationId
          ),
          othersOwn.text
        )

        receiver.setBehaviour(() => 200)
        const queued = yield* request("POST", redeliverUrl, mine.token)
        assert.strictEqual(queued.status, 202, queued.text)
        assert.deepStrictEqual(queued.json, {
          botpressMessageId: messageId,
          botpressConversationId: mine.conversationId
        })
        yield* eventually(Effect.sync(() => (accepted(receiver.arrivals, messageId) ? true : undefined)))
        // Same webhook-id, same body: the receiver's dedupe key holds across the redelivery.
        const bodies = new Set(
          receiver.arrivals
            .filter((arrival) => arrival.webhookId === messageId)
            .map((arrival) => arrival.body)
        )
        assert.strictEqual(bodies.size, 1)

        // Only dead letters are redelivered.
        const again = yield* request("POST", redeliverUrl, mine.token)
        assert.strictEqual(again.status, 409, again.text)
        assert.strictEqual(again.json.error.code, "not_dead_lettered")

        const delivered = yield* eventually(
          request(
            "GET",
            `${server.url}/v1/deliveries?installationId=${mine.installationId}`,
            mine.token
          ).pipe(
            Effect.map((listed) =>
              listed.json.find(
                (record: Record<string, unknown>) =>
                  record.messageId === messageId && record.status === "delivered"
              )
            )
          )
        )
        assert.deepInclude(delivered, { attempts: 1, lastStatus: 200, redeliveries: 1, deadLetteredAt: null })
        const none = yield* request("GET", `${server.url}/v1/deliveries?dead=true`, mine.token)
        assert.deepStrictEqual(none.json, [])
      }),
    { timeout: 120_000 }
  )

  it.live(
    "deliveries list --dead shows the dead letter; deliveries redeliver has the running server deliver it",
    () =>
      Effect.gen(function* () {
        const receiver = yield* startReceiver(() => 404)
        const server = yield* startServer({ DATABASE_URL: databaseUrl, MIN_RETRY_DELAY: "1 millis" })
        const env = { DATABASE_URL: databaseUrl, PUBLIC_URL: server.url }
        const mine = yield* conversationWithReply(server, receiver.url)
        const [dead] = yield* deadLetters(server.url, mine.installationId, mine.token)
        const messageId = String(dead!.messageId)

        const listed = JSON.parse(
          succeeded(
            yield* runCli(
              ["deliveries", "list", "--dead", "--installation", mine.installationId, "--json"],
              env
            )
          )
        ) as ReadonlyArray<Record<string, unknown>>
        assert.deepStrictEqual(listed, [dead])
        const table = succeeded(yield* runCli(["deliveries", "list", "--dead"], env))
        const row = table.split("\n").find((line) => line.startsWith(messageId))
        assert.isDefined(row, table)
        assert.include(row!, "dead_lettered")
        assert.include(row!, "HTTP 404")

        // Another process appends the redelivery; the server is the one that delivers it.
        receiver.setBehaviour(() => 200)
        const redelivered = succeeded(yield* runCli(["deliveries", "redeliver", messageId], env))
        assert.include(redelivered, messageId)
        yield* eventually(Effect.sync(() => (accepted(receiver.arrivals, messageId) ? true : undefined)))

        // Operator mistakes: one line on stderr, exit 1.
        const [again, unknown, badInstallation] = yield* Effect.all(
          [
            runCli(["deliveries", "redeliver", messageId], env),
            runCli(["deliveries", "redeliver", randomUUID()], env),
            runCli(["deliveries", "list", "--installation", "nope"], env)
          ],
          { concurrency: 3 }
        )
        for (const [result, expected] of [
          [again, /^messaging-api: bot message .* not dead-lettered/],
          [unknown, /^messaging-api: no bot message /],
          [badInstallation, /^messaging-api: --installation: nope is not an installation id/]
        ] as const) {
          assert.strictEqual(result.code, 1, result.stderr)
          assert.match(result.stderr, expected)
        }
      }),
    { timeout: 120_000 }
  )

  it.live(
    "SIGTERM with an attempt in flight exits 0 after the shutdown timeout; after a restart it is delivered",
    () =>
      Effect.gen(function* () {
        const receiver = yield* startReceiver(() => "hang")
        const env = { DATABASE_URL: databaseUrl, SHUTDOWN_TIMEOUT: "1 second", MIN_RETRY_DELAY: "1 millis" }
        const first = yield* startServer(env)
        yield* conversationWithReply(first, receiver.url)
        const inFlight = yield* eventually(Effect.sync(() => receiver.arrivals[0]))

        first.child.kill("SIGTERM")
        assert.strictEqual(yield* first.exited, 0, first.output())
        // The abandoned attempt recorded nothing: the next life makes it again, with the same webhook-id.
        receiver.setBehaviour(() => 200)
        yield* startServer(env)
        yield* eventually(
          Effect.sync(() => (accepted(receiver.arrivals, inFlight.webhookId) ? true : undefined))
        )
        assert.isTrue(
          receiver.arrivals.every((arrival) => arrival.body === inFlight.body),
          "every attempt carries the same body"
        )
      }),
    { timeout: 120_000 }
  )
})
