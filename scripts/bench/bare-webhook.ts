import { createServer, type IncomingMessage } from "node:http"

/**
 * What the bench's bare servers (`baseline-server.ts`, `floor-server.ts`) share: node:http, the
 * webhook's body read and parsed, and the same five fields checked as the service checks them.
 * Anything but a POST is answered `{ status: "ok" }` (their health check).
 */

export const fields = ["userId", "messageId", "conversationId", "type", "text"] as const

export type WebhookBody = Record<(typeof fields)[number], string> & Record<string, unknown>

export type Answer = (status: number, body: unknown) => void

export const createBareWebhookServer = (
  handle: (body: WebhookBody, answer: Answer) => void,
  authorized: (request: IncomingMessage) => boolean = () => true
) => {
  const server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const answer: Answer = (status, body) => {
        response.writeHead(status, { "content-type": "application/json" })
        response.end(JSON.stringify(body))
      }
      if (request.method !== "POST") return answer(200, { status: "ok" })
      if (!authorized(request)) return answer(401, { error: { code: "unauthorized", message: "bad token" } })
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
      handle(body as WebhookBody, answer)
    })
  })
  server.keepAliveTimeout = 30_000
  return server
}
