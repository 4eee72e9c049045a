import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { fileDatabaseUrl } from "./FileDatabase.ts"
import { type Arrival, startReceiver } from "./Receiver.ts"
import { adminToken, startServer } from "./ServerProcess.ts"

const databaseUrl = await fileDatabaseUrl()

const post = (url: string, token: string, body: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  })

const waitUntil = (condition: () => boolean, what: string) =>
  Effect.gen(function* () {
    while (!condition()) yield* Effect.sleep("25 millis")
  }).pipe(
    Effect.timeout("60 seconds"),
    Effect.catchTag("TimeoutError", () => Effect.die(new Error(`timed out waiting for ${what}`)))
  )

const delivered = (arrivals: ReadonlyArray<Arrival>) =>
  new Set(arrivals.filter((arrival) => arrival.answer === 200).map((arrival) => arrival.webhookId))

describe("crash safety", () => {
  it.live(
    "SIGKILL while replies are pending and in flight: after restart every reply arrives, in order",
    () =>
      Effect.gen(function* () {
        const env = { DATABASE_URL: databaseUrl, DELIVERY_TIMEOUT: "300 millis", MIN_RETRY_DELAY: "1 millis" }
        let calls = 0
        // First life: the endpoint fails, hangs or drops most requests, so work piles up.
        const receiver = yield* startReceiver(() => {
          calls++
          const roll = calls % 5
          return roll === 0 ? 200 : roll === 1 ? 503 : roll === 2 ? "hang" : roll === 3 ? "drop" : 500
        })
        const first = yield* startServer(env)
        const created = yield* post(`${first.url}/v1/installations`, adminToken, {
          bot: { _tag: "echo" },
          responseUrl: receiver.url,
          retrySchedule:
            "10ms,20ms,40ms,80ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms",
          skipVerify: true
        })
        assert.strictEqual(created.status, 201, JSON.stringify(created.body))
        const webhookUrl = String(created.body.webhookUrl)

        const conversations = 8
        const perConversation = 6
        const texts = (c: number) => Array.from({ length: perConversation }, (_, m) => `c${c}-m${m}`)
        yield* Effect.forEach(
          Array.from({ length: conversations }, (_, c) => c),
          (c) =>
            Effect.forEach(texts(c), (text, m) =>
              post(webhookUrl, adminToken, {
                userId: `user-${c}`,
                messageId: `crash-${c}-${m}-${created.body.id}`,
                conversationId: `crash-conversation-${c}`,
                type: "text",
                text
              }).pipe(
                Effect.tap((answer) =>
                  Effect.sync(() => assert.strictEqual(answer.status, 200, JSON.stringify(answer.body)))
                )
              )
            ),
          { concurrency: conversations }
        )
        // Kill it mid-flight: some replies delivered, some being attempted, most still pending.
        yield* waitUntil(() => delivered(receiver.arrivals).size >= 5, "the first deliveries")
        first.child.kill("SIGKILL")
        yield* first.exited

        // Second life: the endpoint is healthy; everything acknowledged must now arrive.
        receiver.setBehaviour(() => 200)
        yield* startServer(env)
        const total = conversations * perConversation
        yield* waitUntil(() => delivered(receiver.arrivals).size >= total, `${total} replies`)

        const accepted = receiver.arrivals.filter((arrival) => arrival.answer === 200)
        assert.strictEqual(delivered(accepted).size, total, "every reply delivered")
        // Duplicates only ever carry the same webhook-id, with the same body.
        const bodyById = new Map<string, string>()
        for (const arrival of receiver.arrivals) {
          const known = bodyById.get(arrival.webhookId)
          if (known !== undefined) assert.strictEqual(arrival.body, known, "a retry carries the same body")
          bodyById.set(arrival.webhookId, arrival.body)
        }
        const idByText = new Map<string, string>()
        for (const [id, body] of bodyById) {
          const text = (JSON.parse(body) as { payload: { text: string } }).payload.text
          assert.isFalse(idByText.has(text) && idByText.get(text) !== id, `one reply per message (${text})`)
          idByText.set(text, id)
        }
        // Order: per conversation, an attempt for reply N+1 never comes before reply N was delivered.
        for (let c = 0; c < conversations; c++) {
          const sequence = receiver.arrivals
            .map(
              (arrival) => JSON.parse(arrival.body) as { conversationId: string; payload: { text: string } }
            )
            .filter((body) => body.conversationId === `crash-conversation-${c}`)
            .map((body) => texts(c).indexOf(body.payload.text))
          for (let i = 1; i < sequence.length; i++) {
            assert.isTrue(
              sequence[i]! >= sequence[i - 1]!,
              `conversation ${c} in order: ${sequence.join(",")}`
            )
          }
          assert.deepStrictEqual([...new Set(sequence)], [0, 1, 2, 3, 4, 5])
        }
      }),
    { timeout: 120_000 }
  )

  it.live(
    "SIGKILL after idle conversations were settled only in memory: pending work is found, delivered work is not sent again",
    () =>
      Effect.gen(function* () {
        const env = { DATABASE_URL: databaseUrl, DELIVERY_TIMEOUT: "30 seconds", MIN_RETRY_DELAY: "1 millis" }
        // Replies to the last round hang (never answered) until the server is killed.
        let hanging = false
        const receiver = yield* startReceiver(() => (hanging ? "hang" : 200))
        const first = yield* startServer(env)
        const created = yield* post(`${first.url}/v1/installations`, adminToken, {
          bot: { _tag: "echo" },
          responseUrl: receiver.url,
          retrySchedule: "10ms,20ms,40ms",
          skipVerify: true
        })
        assert.strictEqual(created.status, 201, JSON.stringify(created.body))
        const webhookUrl = String(created.body.webhookUrl)
        const conversations = 6
        const send = (round: number) =>
          Effect.forEach(
            Array.from({ length: conversations }, (_, c) => c),
            (c) =>
              post(webhookUrl, adminToken, {
                userId: `user-${c}`,
                messageId: `idle-${c}-${round}-${created.body.id}`,
                conversationId: `idle-conversation-${c}`,
                type: "text",
                text: `c${c}-r${round}`
              }).pipe(
                Effect.tap((answer) =>
                  Effect.sync(() => assert.strictEqual(answer.status, 200, JSON.stringify(answer.body)))
                )
              ),
            { concurrency: conversations }
          )
        // Three rounds delivered one after the other: each conversation goes idle three times, and
        // only the first "nothing to do" is written (its row stays at that version).
        for (let round = 0; round < 3; round++) {
          yield* send(round)
          yield* waitUntil(
            () => delivered(receiver.arrivals).size >= conversations * (round + 1),
            `round ${round}`
          )
          // The delivery projector reads the log every quarter of a second: let it pass the round.
          yield* Effect.sleep("600 millis")
        }
        hanging = true
        yield* send(3)
        yield* waitUntil(
          () => receiver.arrivals.filter((arrival) => arrival.answer === "hang").length >= conversations,
          "the last round's replies in flight"
        )
        first.child.kill("SIGKILL")
        yield* first.exited

        // Second life: every acknowledged reply arrives, and the ones delivered before are not sent again.
        receiver.setBehaviour(() => 200)
        yield* startServer(env)
        yield* waitUntil(() => delivered(receiver.arrivals).size >= conversations * 4, "the last round")
        yield* Effect.sleep("1 second")
        const texts = receiver.arrivals
          .filter((arrival) => arrival.answer === 200)
          .map((arrival) => (JSON.parse(arrival.body) as { payload: { text: string } }).payload.text)
        for (let c = 0; c < conversations; c++) {
          for (let round = 0; round < 4; round++) {
            assert.strictEqual(
              texts.filter((text) => text === `c${c}-r${round}`).length,
              1,
              `conversation ${c}, round ${round}: delivered once`
            )
          }
        }
      }),
    { timeout: 120_000 }
  )
})
