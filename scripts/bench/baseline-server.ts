/**
 * The inbound baseline: the least a server can do for `POST /webhooks/{id}` — node:http,
 * parse the same JSON, check the same five fields, one INSERT per request into Postgres with
 * the same driver and pool size as the service (@effect/sql-pg, 10 connections), answer once
 * it is committed. Run as a child process by inbound.ts:
 *   DATABASE_URL=… PORT=… node scripts/bench/baseline-server.ts
 */
import { createServer } from "node:http"
import { PgClient } from "@effect/sql-pg"
import { ManagedRuntime, Redacted } from "effect"
import { SqlClient } from "effect/sql"

const url = process.env.DATABASE_URL ?? ""
const port = Number(process.env.PORT ?? "0")
const poolSize = Number(process.env.DATABASE_POOL_SIZE ?? "10")

const runtime = ManagedRuntime.make(PgClient.layer({ url: Redacted.make(url), maxConnections: poolSize }))
const sql = await runtime.runPromise(SqlClient.SqlClient)
await runtime.runPromise(sql`
  CREATE TABLE IF NOT EXISTS baseline_messages (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id       text        NOT NULL,
    conversation_id  text        NOT NULL,
    user_id          text        NOT NULL,
    type             text        NOT NULL,
    text             text        NOT NULL,
    payload          jsonb       NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now()
  )
`)

const fields = ["userId", "messageId", "conversationId", "type", "text"] as const

const server = createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    const answer = (status: number, body: unknown) => {
      response.writeHead(status, { "content-type": "application/json" })
      response.end(JSON.stringify(body))
    }
    if (request.method !== "POST") return answer(200, { status: "ok" })
    let body: Record<string, unknown>
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>
    } catch {
      return answer(400, { error: { code: "invalid_json", message: "not JSON" } })
    }
    const missing = fields.filter((field) => typeof body[field] !== "string" || body[field] === "")
    if (missing.length > 0) {
      return answer(400, { error: { code: "invalid_body", message: `bad fields: ${missing.join(", ")}` } })
    }
    const payload = JSON.stringify(body.payload ?? { text: body.text })
    runtime
      .runPromise(
        sql<{ id: string }>`
          INSERT INTO baseline_messages (message_id, conversation_id, user_id, type, text, payload)
          VALUES (${body.messageId as string}, ${body.conversationId as string}, ${body.userId as string},
                  ${body.type as string}, ${body.text as string}, ${payload}::jsonb)
          RETURNING id::text
        `
      )
      .then(
        (rows) =>
          answer(200, {
            message: { id: rows[0]?.id, messageId: body.messageId, conversationId: body.conversationId },
            user: { id: body.userId },
            conversation: { id: body.conversationId }
          }),
        () => answer(503, { error: { code: "database_unavailable", message: "insert failed" } })
      )
  })
})

server.keepAliveTimeout = 30_000
server.listen(port, "127.0.0.1")
process.on("SIGTERM", () => {
  server.closeAllConnections()
  server.close(() => void runtime.dispose().then(() => process.exit(0)))
})
