import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import * as EndpointGuard from "@messaging-api/domain/EndpointGuard"
import { Effect } from "effect"

/**
 * A real HTTP endpoint on 127.0.0.1 (an application's response endpoint, or an http bot), with a
 * scripted answer per request. It records every request, whatever it answered.
 */

export type Answer =
  | number
  | { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string }
  /** Never answer (the client's timeout ends it). */
  | "hang"
  /** Close the connection without answering. */
  | "drop"

export interface ReceivedRequest {
  readonly index: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly answer: Answer
}

export interface Receiver {
  readonly url: string
  readonly requests: ReadonlyArray<ReceivedRequest>
  /** Replaces the script for the requests to come. */
  setScript(script: (request: Omit<ReceivedRequest, "answer">) => Answer): void
  /** Whether the connection of a request that was never answered is still open (the sender still waits). */
  isOpen(index: number): boolean
  /** Resolves once the recorded requests satisfy the predicate (the test's timeout bounds the wait). */
  waitFor(predicate: (requests: ReadonlyArray<ReceivedRequest>) => boolean): Effect.Effect<void>
}

export const make = (script: (request: Omit<ReceivedRequest, "answer">) => Answer = () => 200) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      let current = script
      const requests: Array<ReceivedRequest> = []
      const open = new Set<number>()
      const waiters: Array<{
        predicate: (r: ReadonlyArray<ReceivedRequest>) => boolean
        resolve: () => void
      }> = []
      const check = () => {
        for (const waiter of [...waiters]) {
          if (waiter.predicate(requests)) {
            waiters.splice(waiters.indexOf(waiter), 1)
            waiter.resolve()
          }
        }
      }
      const handle = (req: IncomingMessage, res: ServerResponse) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const headers: Record<string, string> = {}
          for (const [name, value] of Object.entries(req.headers)) {
            if (typeof value === "string") headers[name] = value
          }
          const seen = { index: requests.length, headers, body: Buffer.concat(chunks).toString("utf8") }
          const answer = current(seen)
          requests.push({ ...seen, answer })
          if (answer === "hang") {
            open.add(seen.index)
            res.on("close", () => open.delete(seen.index))
            return check()
          }
          if (answer === "drop") {
            req.socket.destroy()
            return check()
          }
          const { status, headers: extra, body } = typeof answer === "number" ? { status: answer } : answer
          res.writeHead(status, { "content-type": "application/json", ...extra })
          res.end(body ?? "")
          check()
        })
      }
      const server = createServer(handle)
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const { port } = server.address() as AddressInfo
      const receiver: Receiver = {
        url: `http://127.0.0.1:${port}/hook`,
        requests,
        isOpen: (index) => open.has(index),
        setScript: (next) => {
          current = next
        },
        waitFor: (predicate) =>
          Effect.promise(
            () =>
              new Promise<void>((resolve) => {
                waiters.push({ predicate, resolve })
                check()
              })
          )
      }
      return { server, receiver }
    }),
    ({ server }) =>
      Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections()
            server.close(() => resolve())
          })
      )
  ).pipe(Effect.map(({ receiver }) => receiver))

/** The first successful (2xx-answered) request per webhook-id, in arrival order. */
export const firstAccepted = (requests: ReadonlyArray<ReceivedRequest>): ReadonlyArray<ReceivedRequest> => {
  const seen = new Set<string>()
  const accepted: Array<ReceivedRequest> = []
  for (const request of requests) {
    const status =
      typeof request.answer === "number" ? request.answer : (request.answer as { status?: number }).status
    if (status === undefined || status < 200 || status >= 300) continue
    const id = request.headers["webhook-id"] ?? ""
    if (seen.has(id)) continue
    seen.add(id)
    accepted.push(request)
  }
  return accepted
}

/** The endpoint guard with loopback opened, as `ALLOWED_ENDPOINT_NETWORKS=127.0.0.0/8` opens it: receivers live there. */
export const loopbackGuard = EndpointGuard.layer({ allowedNetworks: ["127.0.0.0/8"] })
