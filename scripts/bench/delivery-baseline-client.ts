/**
 * The delivery baseline: a bare loop of keep-alive POSTs with the client the service delivers
 * with (effect/http HttpClient over `NodeHttpClient.layerUndici`), reply-sized JSON bodies,
 * `CONCURRENCY` loops at once, no signing, no event store. Run as a child process by
 * delivery.ts; prints one JSON line: { count, failed, ms }.
 *   URL=… COUNT=10000 CONCURRENCY=200 node scripts/bench/delivery-baseline-client.ts
 */
import { randomUUID } from "node:crypto"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"

const url = process.env.URL ?? ""
const count = Number(process.env.COUNT ?? "10000")
const concurrency = Number(process.env.CONCURRENCY ?? "200")

const program = Effect.gen(function* () {
  const client = yield* HttpClient.HttpClient
  let failed = 0
  const post = (index: number) => {
    const id = randomUUID()
    const body = JSON.stringify({
      type: "text",
      payload: { text: `${index}` },
      conversationId: `bare-c${index % concurrency}`,
      botpressUserId: randomUUID(),
      botpressMessageId: id,
      botpressConversationId: randomUUID()
    })
    return client
      .execute(
        HttpClientRequest.post(url).pipe(
          HttpClientRequest.setHeader("webhook-id", id),
          HttpClientRequest.bodyText(body, "application/json")
        )
      )
      .pipe(
        Effect.flatMap((response) => response.arrayBuffer),
        Effect.scoped,
        Effect.catch(() =>
          Effect.sync(() => {
            failed++
          })
        )
      )
  }
  const start = performance.now()
  yield* Effect.forEach(
    Array.from({ length: count }, (_, index) => index),
    post,
    {
      concurrency,
      discard: true
    }
  )
  return { count, failed, ms: performance.now() - start }
}).pipe(Effect.provide(NodeHttpClient.layerUndici))

const result = await Effect.runPromise(program)
process.stdout.write(`${JSON.stringify(result)}\n`)
