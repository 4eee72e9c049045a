import type { IncomingMessage, ServerResponse } from "node:http"
import { Effect } from "effect"
import { listenOnLoopback } from "./LoopbackServer.ts"

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
    const url = yield* listenOnLoopback(
      (request, response) => {
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
      },
      () => {
        for (const response of hanging) response.socket?.destroy()
      }
    )
    return {
      url: `${url}/replies`,
      arrivals,
      setBehaviour: (next: Behaviour) => {
        behaviour = next
      }
    }
  })
