/**
 * The inbound baseline: the least a server can do for `POST /webhooks/{id}` — node:http,
 * parse the same JSON, check the same five fields, one INSERT per request into Postgres with
 * the same driver and pool size as the service (@effect/sql-pg, 10 connections), answer once
 * it is committed. Run as a child process by inbound.ts:
 *   DATABASE_URL=… PORT=… node scripts/bench/baseline-server.ts
 */
import { PgClient } from "@effect/sql-pg"
import { ManagedRuntime, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { createBareWebhookServer } from "./bare-webhook.ts"

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

const server = createBareWebhookServer((body, answer) => {
  const payload = JSON.stringify(body.payload ?? { text: body.text })
  runtime
    .runPromise(
      sql<{ id: string }>`
        INSERT INTO baseline_messages (message_id, conversation_id, user_id, type, text, payload)
        VALUES (${body.messageId}, ${body.conversationId}, ${body.userId},
                ${body.type}, ${body.text}, ${payload}::jsonb)
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

server.listen(port, "127.0.0.1")
process.on("SIGTERM", () => {
  server.closeAllConnections()
  server.close(() => void runtime.dispose().then(() => process.exit(0)))
})
