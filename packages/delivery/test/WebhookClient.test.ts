import { createServer as createHttpServer, type ServerResponse } from "node:http"
import { createServer } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import * as EndpointGuard from "@messaging-api/domain/EndpointGuard"
import { Duration, Effect, Fiber, Layer } from "effect"
import * as DeliverySettings from "../src/DeliverySettings.ts"
import { WebhookClient } from "../src/WebhookClient.ts"
import * as Receiver from "./Receiver.ts"

// One signed POST against a real endpoint on loopback: the answer as it came, cut at the cap, and
// each way a request can fail. A request the client stops waiting for closes its connection once
// sent; one given up on before it was sent is never sent and closes none.

const secret = `whsec_${Buffer.from("a test signing secret, 32 bytes!").toString("base64")}`

const clientWith = (
  settings: Partial<DeliverySettings.DeliverySettingsShape>,
  guard = Receiver.loopbackGuard
) =>
  WebhookClient.layer.pipe(
    Layer.provide(Layer.succeed(DeliverySettings.DeliverySettings, DeliverySettings.make(settings))),
    Layer.provide(guard)
  )

const post = (url: string, body = '{"type":"text"}', timeout?: Duration.Duration) =>
  WebhookClient.use((client) => client.post({ url, secrets: [secret], id: "msg_1", body, timeout }))

const failureOf = <A, E extends { readonly kind: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => error.kind)

/** A loopback port nothing listens on (taken, then closed). */
const closedPort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const server = createServer()
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number }
        server.close(() => resolve(port))
      })
    })
)

describe("WebhookClient.post", () => {
  it.live("sends the body signed and answers with the status, headers and body", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make(() => ({
        status: 202,
        headers: { "x-answer": "yes" },
        body: '{"ok":true}'
      }))
      const response = yield* post(receiver.url, '{"type":"text","payload":{"text":"hi"}}')
      assert.strictEqual(response.status, 202)
      assert.strictEqual(response.headers["x-answer"], "yes")
      assert.strictEqual(new TextDecoder().decode(response.body), '{"ok":true}')
      assert.isFalse(response.truncated)
      const [received] = receiver.requests
      assert.strictEqual(received?.body, '{"type":"text","payload":{"text":"hi"}}')
      assert.strictEqual(received?.headers["content-type"], "application/json")
      assert.strictEqual(received?.headers["webhook-id"], "msg_1")
      assert.match(received?.headers["webhook-signature"] ?? "", /^v1,/)
    }).pipe(Effect.scoped, Effect.provide(clientWith({})))
  )

  it.live("keeps the beginning of an answer longer than the cap and says it was cut", () =>
    Effect.gen(function* () {
      const long = "x".repeat(5_000)
      const receiver = yield* Receiver.make(() => ({ status: 200, body: long }))
      const response = yield* post(receiver.url)
      assert.strictEqual(response.status, 200)
      assert.isTrue(response.truncated)
      assert.strictEqual(new TextDecoder().decode(response.body), long.slice(0, 1_000))
    }).pipe(Effect.scoped, Effect.provide(clientWith({ maxResponseBytes: 1_000 })))
  )

  it.live("gives up on an endpoint that does not answer in time, and closes the connection", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make(() => "hang")
      assert.strictEqual(yield* failureOf(post(receiver.url)), "timeout")
      yield* receiver.waitFor((requests) => requests.length === 1)
      while (receiver.isOpen(0)) yield* Effect.sleep(Duration.millis(5))
    }).pipe(Effect.scoped, Effect.provide(clientWith({ requestTimeout: Duration.millis(100) })))
  )

  it.live("closes the connection when the caller stops waiting", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make(() => "hang")
      const fiber = yield* Effect.forkChild(post(receiver.url))
      yield* receiver.waitFor((requests) => requests.length === 1)
      assert.isTrue(receiver.isOpen(0))
      yield* Fiber.interrupt(fiber)
      while (receiver.isOpen(0)) yield* Effect.sleep(Duration.millis(5))
    }).pipe(Effect.scoped, Effect.provide(clientWith({})))
  )

  it.live("fails as a network failure when nothing listens or the connection drops", () =>
    Effect.gen(function* () {
      const port = yield* closedPort
      assert.strictEqual(yield* failureOf(post(`http://127.0.0.1:${port}/hook`)), "network")
      const receiver = yield* Receiver.make(() => "drop")
      assert.strictEqual(yield* failureOf(post(receiver.url)), "network")
    }).pipe(Effect.scoped, Effect.provide(clientWith({})))
  )

  it.live("refuses an address the endpoint guard does not allow, sending nothing", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make()
      // The default guard refuses loopback: the request never leaves.
      assert.strictEqual(yield* failureOf(post(receiver.url)), "not_allowed")
      assert.strictEqual(receiver.requests.length, 0)
    }).pipe(Effect.scoped, Effect.provide(clientWith({}, EndpointGuard.layer({ allowedNetworks: [] }))))
  )

  it.live("never sends a request given up on while it waited for a connection, nor closes one for it", () =>
    Effect.gen(function* () {
      // An endpoint that holds every answer until told, counting requests and closed connections.
      const held: Array<ServerResponse> = []
      let closed = 0
      const server = createHttpServer((request, response) => {
        request.resume()
        request.on("end", () => held.push(response))
      })
      server.on("connection", (socket) => socket.on("close", () => closed++))
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
        () =>
          Effect.promise(
            () =>
              new Promise<void>((resolve) => {
                server.closeAllConnections()
                server.close(() => resolve())
              })
          )
      )
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`
      // Every connection of the pool (256) busy with an answer that has not come yet.
      const busy = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: 256 }), () => post(url), { concurrency: "unbounded" })
      )
      while (held.length < 256) yield* Effect.sleep(Duration.millis(5))
      assert.strictEqual(yield* failureOf(post(url, '{"type":"late"}', Duration.millis(50))), "timeout")
      for (const response of held) response.end("{}")
      const answers = yield* Fiber.join(busy)
      assert.isTrue(answers.every((answer) => answer.status === 200))
      // The pool moved on: a new request is answered, the late one never arrived, no connection closed.
      const next = yield* Effect.forkChild(post(url))
      while (held.length < 257) yield* Effect.sleep(Duration.millis(5))
      held[256]?.end("{}")
      assert.strictEqual((yield* Fiber.join(next)).status, 200)
      assert.strictEqual(held.length, 257)
      assert.strictEqual(closed, 0)
    }).pipe(Effect.scoped, Effect.provide(clientWith({})))
  )
})
