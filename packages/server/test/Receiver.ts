import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { Effect } from "effect"

/** One request that reached the test's response endpoint. */
export interface Arrival {
  readonly webhookId: string
  readonly body: string
  readonly headers: IncomingMessage["headers"]
  /** What the receiver answered: a status, or "hang" / "drop". */
  readonly answer: number | "hang" | "drop"
}

export type Behaviour = (request: IncomingMessage, body: string) => number | "hang" | "drop"

/**
 * A real HTTP server on 127.0.0.1 standing in for the application's response endpoint. Its
 * behaviour can be changed while it runs (to fail, hang or drop connections).
 */
export const startReceiver = (initial: Behaviour = () => 200) =>
  Effect.gen(function* () {
    const arrivals: Array<Arrival> = []
    let behaviour = initial
    const hanging = new Set<ServerResponse>()
    const server = yield* Effect.acquireRelease(
      Effect.callback<ReturnType<typeof createServer>>((resume) => {
        const server = createServer((request, response) => {
          const chunks: Array<Buffer> = []
          request.on("data", (chunk: Buffer) => chunks.push(chunk))
          request.on("end", () => {
            const body = Buffer.concat(chunks).toString("utf8")
            const answer = behaviour(request, body)
            arrivals.push({
              webhookId: String(request.headers["webhook-id"] ?? ""),
              body,
              headers: request.headers,
              answer
            })
            if (answer === "hang") {
              hanging.add(response)
              return
            }
            if (answer === "drop") {
              request.socket.destroy()
              return
            }
            response.statusCode = answer
            response.end()
          })
        })
        server.keepAliveTimeout = 1000
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.callback<void>((resume) => {
          for (const response of hanging) response.socket?.destroy()
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    return {
      url: `http://127.0.0.1:${port}/replies`,
      arrivals,
      setBehaviour: (next: Behaviour) => {
        behaviour = next
      }
    }
  })
