import type { IncomingHttpHeaders } from "node:http"
import { Effect, Schedule } from "effect"
import { listenOnLoopback } from "../LoopbackServer.ts"

/**
 * A real HTTP server on 127.0.0.1 (port 0) standing in for what the service calls out to: the
 * application's response endpoint, an http bot, an LLM provider. It keeps every request it got and
 * answers each as `answer` says (200 with no body unless told otherwise). Closed with the scope.
 */

/** One request that reached the receiver. */
export interface Arrival {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
  /** The body as JSON, or null when it is empty or not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read into arbitrary JSON
  readonly json: any
}

/** What the receiver answers one request with. */
export interface Answer {
  readonly status: number
  readonly headers?: Readonly<Record<string, string>>
  /** Sent as JSON (with its content type) when given. */
  readonly json?: unknown
}

export const startReceiver = (answer: (arrival: Arrival) => Answer = () => ({ status: 200 })) =>
  Effect.gen(function* () {
    const arrivals: Array<Arrival> = []
    const url = yield* listenOnLoopback((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8")
        let json: unknown = null
        try {
          json = body === "" ? null : JSON.parse(body)
        } catch {}
        const arrival: Arrival = { path: request.url ?? "", headers: request.headers, body, json }
        arrivals.push(arrival)
        const answered = answer(arrival)
        response.statusCode = answered.status
        for (const [name, value] of Object.entries(answered.headers ?? {})) response.setHeader(name, value)
        if (answered.json === undefined) return response.end()
        response.setHeader("content-type", "application/json")
        response.end(JSON.stringify(answered.json))
      })
    })
    return { url, port: Number(new URL(url).port), arrivals }
  })

/** Polls `find` every 20 ms until it gives a value; the test's timeout bounds it. */
export const waitFor = <A>(find: () => A | undefined) =>
  Effect.suspend(() => {
    const found = find()
    return found === undefined ? Effect.fail("not yet" as const) : Effect.succeed(found)
  }).pipe(Effect.retry(Schedule.spaced("20 millis")))
