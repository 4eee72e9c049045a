import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { WebhookClient } from "@messaging-api/delivery/WebhookClient"
import * as EndpointGuard from "@messaging-api/domain/EndpointGuard"
import { Effect, Layer } from "effect"
import { freePort } from "../serve-child.ts"

/**
 * What one signed POST costs the service's process: `WebhookClient.post` (signing, the endpoint
 * guard, the request and its answer) to a bare node:http receiver in a child process of its own
 * (so that its CPU is not counted), CONCURRENCY at a time, with a delivery-sized body. Prints the
 * CPU per POST and the rate after a warm-up; alternate runs in two worktrees to compare two
 * versions of the code (item 19 of docs/PERFORMANCE.md).
 *
 *   node scripts/bench/post-cost.ts [CONCURRENCY=64] [POSTS=20000]
 */

const settings = Object.fromEntries(process.argv.slice(2).map((arg) => arg.split("=", 2) as [string, string]))
const concurrency = Number(settings.CONCURRENCY ?? "64")
const posts = Number(settings.POSTS ?? "20000")

const receiverSource = `
  const server = require("node:http").createServer((req, res) => {
    req.resume()
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" })
      res.end('{"ok":true}')
    })
  })
  server.listen(Number(process.env.PORT), "127.0.0.1", () => process.stdout.write("ready\\n"))
`

const port = await freePort()
const receiver = spawn(process.execPath, ["-e", receiverSource], {
  env: { ...process.env, PORT: String(port) },
  stdio: ["ignore", "pipe", "inherit"]
})
await new Promise<void>((resolve) => receiver.stdout.once("data", () => resolve()))

const url = `http://127.0.0.1:${port}/hook`
const secret = `whsec_${Buffer.from("a bench signing secret, 32 byte").toString("base64")}`
const body = JSON.stringify({
  type: "text",
  payload: { text: "1733070000.123|conversation-1|42" },
  conversationId: "conversation-1",
  botpressUserId: randomUUID(),
  botpressMessageId: randomUUID(),
  botpressConversationId: randomUUID()
})

const program = Effect.gen(function* () {
  const client = yield* WebhookClient
  const run = (count: number) =>
    Effect.forEach(
      Array.from({ length: count }, (_, index) => index),
      (index) => client.post({ url, secrets: [secret], id: `msg_${index}`, body }),
      { concurrency, discard: true }
    )
  yield* run(Math.min(5_000, posts))
  const cpu = process.cpuUsage()
  const started = performance.now()
  yield* run(posts)
  const used = process.cpuUsage(cpu)
  const ms = performance.now() - started
  console.log(
    `${posts} POSTs, ${concurrency} at a time: ${((used.user + used.system) / posts).toFixed(1)} µs of CPU ` +
      `per POST (user ${(used.user / posts).toFixed(1)}), ${Math.round((posts * 1000) / ms)} POSTs/s`
  )
}).pipe(
  Effect.provide(
    WebhookClient.layer.pipe(Layer.provide(EndpointGuard.layer({ allowedNetworks: ["127.0.0.0/8"] })))
  )
)

try {
  await Effect.runPromise(program)
} finally {
  receiver.kill()
}
