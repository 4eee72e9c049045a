/**
 * The contract's floor: the least any implementation of the contract has to do for each message,
 * in bare node:http with no framework, so that a target can be told apart from what the machine
 * allows (inbound.ts and end-to-end.ts run it beside the service, under the same load).
 *
 * For each `POST /webhooks/{id}` it checks the bearer token (a SHA-256 compare, as the service
 * compares token hashes), parses the same JSON and checks the same five fields, commits the user
 * message and answers. Then the echo "bot": it commits the reply, POSTs it signed (HMAC-SHA256 over
 * `id.timestamp.body`, Standard Webhooks headers) to RESPONSE_URL over keep-alive connections,
 * one at a time per conversation so replies stay in order, and commits the delivery's record.
 * Commits go through a group commit like the service's: three writers, each taking up to 64 rows
 * that queued while it waited, one multi-row INSERT each, and a unique key per row.
 *
 * It leaves out what the service does beyond that floor: event versions and the expected-version
 * check, idempotency answers, the read models and the work index, retries, metrics, traces and
 * logs. Its rate is therefore an upper bound on what the service could reach on this machine.
 *   DATABASE_URL=… PORT=… RESPONSE_URL=… TOKEN=… SECRET=… node scripts/bench/floor-server.ts
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto"
import { Agent, type IncomingMessage } from "node:http"
import { PgClient } from "@effect/sql-pg"
import { ManagedRuntime, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { createBareWebhookServer } from "./bare-webhook.ts"
import { postJson } from "./message-sender.ts"

const url = process.env.DATABASE_URL ?? ""
const port = Number(process.env.PORT ?? "0")
const responseUrl = new URL(process.env.RESPONSE_URL ?? "http://127.0.0.1:1/")
const tokenHash = createHash("sha256")
  .update(process.env.TOKEN ?? "")
  .digest()
const secret = Buffer.from(process.env.SECRET ?? "floor-secret")

const runtime = ManagedRuntime.make(PgClient.layer({ url: Redacted.make(url), maxConnections: 10 }))
const sql = await runtime.runPromise(SqlClient.SqlClient)
await runtime.runPromise(sql`
  CREATE TABLE IF NOT EXISTS floor_events (
    position  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key       text        NOT NULL UNIQUE,
    stream    text        NOT NULL,
    kind      text        NOT NULL,
    data      jsonb       NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
  )
`)

interface Row {
  readonly key: string
  readonly stream: string
  readonly kind: "user" | "reply" | "delivered"
  readonly data: unknown
}

/** The group commit: WRITERS statements in flight at most, each with what queued meanwhile. */
const WRITERS = 3
const MAX_ROWS = 64
const queued: Array<{ readonly row: Row; readonly done: (committed: boolean) => void }> = []
let writing = 0
const pump = () => {
  while (writing < WRITERS && queued.length > 0) {
    const batch = queued.splice(0, MAX_ROWS)
    writing++
    const rows = JSON.stringify(batch.map((pending) => pending.row))
    runtime
      .runPromise(sql`
        INSERT INTO floor_events (key, stream, kind, data)
        SELECT key, stream, kind, data FROM jsonb_to_recordset(${rows}::jsonb)
          AS r(key text, stream text, kind text, data jsonb)
      `)
      .then(
        () => {
          for (const pending of batch) pending.done(true)
        },
        () => {
          for (const pending of batch) pending.done(false)
        }
      )
      .finally(() => {
        writing--
        pump()
      })
  }
}
const commit = (row: Row) =>
  new Promise<boolean>((done) => {
    queued.push({ row, done })
    pump()
  })

const agent = new Agent({ keepAlive: true, maxSockets: 64 })

/** One signed POST of a reply; resolves with the status (0: the request failed). */
const post = (body: string) => {
  const id = `msg_${randomUUID()}`
  const timestamp = String(Math.floor(Date.now() / 1000))
  const signature = createHmac("sha256", secret).update(`${id}.${timestamp}.${body}`).digest("base64")
  return postJson(
    agent,
    responseUrl,
    { "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": `v1,${signature}` },
    body
  )
}

/** The last delivery of each conversation: the next one starts after it. */
const lastDelivery = new Map<string, Promise<void>>()

const reply = (conversationId: string, userId: string, text: string) => {
  const messageId = randomUUID()
  const body = JSON.stringify({
    type: "text",
    payload: { text },
    conversationId,
    userId,
    messageId
  })
  const previous = lastDelivery.get(conversationId)
  const delivered = commit({ key: messageId, stream: conversationId, kind: "reply", data: body }).then(
    async (committed) => {
      await previous
      if (!committed) return
      const status = await post(body)
      await commit({
        key: `${messageId}/delivered`,
        stream: conversationId,
        kind: "delivered",
        data: { status }
      })
    }
  )
  lastDelivery.set(conversationId, delivered)
  void delivered.then(() => {
    if (lastDelivery.get(conversationId) === delivered) lastDelivery.delete(conversationId)
  })
}

const authorized = (request: IncomingMessage) => {
  const header = request.headers.authorization
  if (header === undefined || !header.startsWith("Bearer ")) return false
  return timingSafeEqual(createHash("sha256").update(header.slice(7)).digest(), tokenHash)
}

const server = createBareWebhookServer((body, answer) => {
  const { messageId, conversationId, userId, text } = body
  void commit({ key: messageId, stream: conversationId, kind: "user", data: body }).then((committed) => {
    if (!committed) return answer(503, { error: { code: "database_unavailable", message: "insert failed" } })
    answer(200, { message: { id: messageId, conversationId }, user: { id: userId } })
    reply(conversationId, userId, text)
  })
}, authorized)

server.listen(port, "127.0.0.1")
process.on("SIGTERM", () => {
  server.closeAllConnections()
  agent.destroy()
  server.close(() => void runtime.dispose().then(() => process.exit(0)))
})
