import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { succeeded } from "./CliResult.ts"
import { fileDatabaseUrl } from "./FileDatabase.ts"
import { type Arrival, startReceiver } from "./Receiver.ts"
import { converse, eventually, installationWithToken, request } from "./ServerApi.ts"
import { adminToken, runCli, startServer } from "./ServerProcess.ts"

// Endpoint health end to end: a real `serve` process with ENDPOINT_PAUSE_AFTER of 200 ms and
// millisecond retry schedules, a real response endpoint on 127.0.0.1 that fails and later
// recovers, the HTTP API and the `messaging-api installations` CLI as an operator runs them.

const databaseUrl = await fileDatabaseUrl()

const env = { DATABASE_URL: databaseUrl, MIN_RETRY_DELAY: "1 millis", ENDPOINT_PAUSE_AFTER: "200 millis" }

/** An echo installation delivering to `responseUrl` on `retrySchedule`, and a token limited to it. */
const installation = (serverUrl: string, responseUrl: string, retrySchedule: string) =>
  installationWithToken(serverUrl, { bot: { _tag: "echo" }, responseUrl, retrySchedule }).pipe(
    Effect.tap((target) =>
      Effect.sync(() => assert.deepStrictEqual(target.installation.endpoint, { status: "healthy" }))
    )
  )

const textOf = (arrival: Arrival): string => JSON.parse(arrival.body).payload.text

const eventTypes = (serverUrl: string, conversationId: string) =>
  request("GET", `${serverUrl}/v1/conversations/${conversationId}/events?limit=200`, adminToken).pipe(
    Effect.map((page) => {
      assert.strictEqual(page.status, 200, page.text)
      return (page.json.items as ReadonlyArray<{ type: string; data: Record<string, unknown> }>).map(
        (item) => item
      )
    })
  )

const endpointOf = (serverUrl: string, installationId: string) =>
  request("GET", `${serverUrl}/v1/installations/${installationId}`, adminToken).pipe(
    Effect.map((got) => {
      assert.strictEqual(got.status, 200, got.text)
      return got.json.endpoint as {
        status: string
        failingSince?: string
        pausedAt?: string
        lastError?: string
      }
    })
  )

describe("endpoint health pause", () => {
  it.live(
    "an endpoint failing for ENDPOINT_PAUSE_AFTER is paused: attempts stop, nothing is dead-lettered; resume sends everything once, in order",
    () =>
      Effect.gen(function* () {
        const receiver = yield* startReceiver(() => 500)
        const server = yield* startServer(env)
        // 20 waits of 30 ms: the schedule lasts longer than the pause bound, so the pause comes first.
        const target = yield* installation(server.url, receiver.url, Array(20).fill("30ms").join(","))
        const first = yield* converse(target, ["a1", "a2"])
        const second = yield* converse(target, ["b1", "b2"])

        const paused = yield* eventually(
          endpointOf(server.url, target.id).pipe(
            Effect.map((endpoint) => (endpoint.status === "paused" ? endpoint : undefined))
          )
        )
        assert.strictEqual(paused.lastError, "HTTP 500")
        assert.isAtLeast(Date.parse(paused.pausedAt!) - Date.parse(paused.failingSince!), 200)

        // Each conversation records that it holds its deliveries back; after that no attempt is in flight.
        for (const conversationId of [first, second]) {
          const pauseEvent = yield* eventually(
            eventTypes(server.url, conversationId).pipe(
              Effect.map((events) => events.find((event) => event.type === "DeliveriesPaused"))
            )
          )
          assert.strictEqual(pauseEvent.data.installationId, target.id)
          assert.strictEqual(pauseEvent.data.endpointPausedAt, paused.pausedAt)
          assert.strictEqual(pauseEvent.data.lastError, "HTTP 500")
        }
        const attemptsAtPause = receiver.arrivals.length
        assert.isAbove(attemptsAtPause, 2)
        // Longer than what is left of any schedule: a message not held would have been tried and dead-lettered.
        yield* Effect.sleep("700 millis")
        assert.strictEqual(receiver.arrivals.length, attemptsAtPause, "no attempt while paused")

        const deliveries = yield* eventually(
          request("GET", `${server.url}/v1/deliveries?installationId=${target.id}`, adminToken).pipe(
            Effect.map((listed) => {
              assert.strictEqual(listed.status, 200, listed.text)
              return listed.json.length === 4 ? (listed.json as ReadonlyArray<{ status: string }>) : undefined
            })
          )
        )
        assert.deepStrictEqual(
          deliveries.map((delivery) => delivery.status),
          ["pending", "pending", "pending", "pending"]
        )

        // The operator sees it from the CLI.
        const shown = succeeded(yield* runCli(["installations", "show", target.id], env))
        assert.include(shown, `paused at ${paused.pausedAt}`)
        assert.include(shown, "HTTP 500")
        const listed = succeeded(yield* runCli(["installations", "list", "--json"], env))
        const mine = JSON.parse(listed).find((item: { id: string }) => item.id === target.id)
        assert.strictEqual(mine.endpoint.status, "paused")

        receiver.setBehaviour(() => 200)
        const resumed = yield* request(
          "POST",
          `${server.url}/v1/installations/${target.id}/resume`,
          adminToken
        )
        assert.strictEqual(resumed.status, 200, resumed.text)
        assert.deepStrictEqual(resumed.json.endpoint, { status: "healthy" })

        const delivered = () => receiver.arrivals.filter((arrival) => arrival.answer === 200)
        yield* eventually(Effect.sync(() => (delivered().length >= 4 ? true : undefined)))
        // Exactly once each, and in order within each conversation: no reply was sent before the one ahead of it.
        assert.sameMembers(delivered().map(textOf), ["a1", "a2", "b1", "b2"])
        const afterResume = receiver.arrivals.slice(attemptsAtPause)
        assert.isTrue(
          afterResume.every((arrival) => arrival.answer === 200),
          "only the delivering attempts"
        )
        const order = afterResume.map(textOf)
        assert.isBelow(order.indexOf("a1"), order.indexOf("a2"))
        assert.isBelow(order.indexOf("b1"), order.indexOf("b2"))
        for (const conversationId of [first, second]) {
          const types = (yield* eventTypes(server.url, conversationId)).map((event) => event.type)
          assert.notInclude(types, "MessageDeadLettered")
          assert.isBelow(types.indexOf("DeliveriesPaused"), types.indexOf("DeliveriesResumed"))
          assert.isBelow(types.indexOf("DeliveriesResumed"), types.indexOf("MessageDelivered"))
        }
        const healthy = yield* endpointOf(server.url, target.id)
        assert.deepStrictEqual(healthy, { status: "healthy" })
        assert.include(
          succeeded(yield* runCli(["installations", "show", target.id], env)),
          "endpoint        healthy"
        )
      }),
    { timeout: 60_000 }
  )

  it.live(
    "a success before the bound ends the failing period: no pause",
    () =>
      Effect.gen(function* () {
        // Each reply fails three times, then is accepted: messages go on until the failures span
        // more than the bound in all (however fast this machine is), but a success always comes
        // well within it (however slow this machine is right now).
        const bound = 1_000
        const failures = new Map<string, number>()
        const failedAt: Array<number> = []
        const receiver = yield* startReceiver((incoming) => {
          const id = String(incoming.headers["webhook-id"])
          const count = failures.get(id) ?? 0
          if (count >= 3) return 200
          failures.set(id, count + 1)
          failedAt.push(Date.now())
          return 500
        })
        const server = yield* startServer({ ...env, ENDPOINT_PAUSE_AFTER: `${bound} millis` })
        const target = yield* installation(server.url, receiver.url, Array(10).fill("10ms").join(","))
        const conversations: Array<string> = []
        const span = () => (failedAt.length === 0 ? 0 : failedAt[failedAt.length - 1]! - failedAt[0]!)
        while (span() <= bound && conversations.length < 100) {
          const text = `m${conversations.length + 1}`
          conversations.push(yield* converse(target, [text]))
          yield* eventually(
            Effect.sync(() =>
              receiver.arrivals.some((arrival) => arrival.answer === 200 && textOf(arrival) === text)
                ? true
                : undefined
            )
          )
        }
        // Without the reset the endpoint would have been paused: its failures span more than the bound.
        assert.isAbove(span(), bound)
        // The last success is recorded once its answer is back: the endpoint is healthy then (the
        // receiver may see the 200 a moment before the service has recorded it).
        const endpoint = yield* eventually(
          Effect.map(endpointOf(server.url, target.id), (status) =>
            status.status === "healthy" ? status : undefined
          )
        )
        assert.deepStrictEqual(endpoint, { status: "healthy" })
        for (const conversationId of conversations) {
          const types = (yield* eventTypes(server.url, conversationId)).map((event) => event.type)
          assert.notInclude(types, "DeliveriesPaused")
          assert.notInclude(types, "MessageDeadLettered")
        }
      }),
    { timeout: 60_000 }
  )
})
