import { createServer, type ServerResponse } from "node:http"
import { performance } from "node:perf_hooks"

/**
 * The application's response endpoint, on loopback in the bench process. Every bench message's
 * text is `<send time>|<conversation>|<sequence>` (see message-sender.ts); the echo bot sends
 * it back, so the receiver computes the end-to-end latency of each reply at arrival and checks
 * the order per conversation. Deliveries are at-least-once: a webhook-id seen again is counted
 * as a duplicate and not timed again.
 */

export type ReceiverMode =
  | { readonly _tag: "accept" }
  | { readonly _tag: "refuse"; readonly status: number }
  /** Holds every request open until `release()`. */
  | { readonly _tag: "hang" }

/** What arrived for one run (the prefix of the conversation names a sender used). */
export interface RunArrivals {
  /** Distinct replies answered 2xx. */
  accepted: number
  /** End-to-end latency (ms) of each, from the send time in its text. */
  readonly latencies: Array<number>
  /** performance.now() of the first and the last acceptance. */
  first: number
  last: number
  /** Sequence numbers accepted per conversation, in arrival order. */
  readonly sequences: Map<string, Array<number>>
  /** Replies accepted after a later reply of the same conversation. */
  outOfOrder: number
}

export interface Receiver {
  readonly url: string
  setMode(mode: ReceiverMode): void
  /** Answers 200 to every held request; returns how many there were. */
  release(): number
  /** Requests held open now (mode "hang"). */
  readonly held: () => number
  /** Distinct replies answered 2xx, all runs. */
  readonly accepted: () => number
  /** Every request, refused and repeated ones included. */
  readonly requests: () => number
  /** A webhook-id accepted again (at-least-once delivery). */
  readonly duplicates: () => number
  readonly run: (run: string) => RunArrivals
  readonly close: () => Promise<void>
}

/** Conversation names are `<run>-c<index>` (message-sender.ts). */
export const runOf = (conversation: string): string => conversation.slice(0, conversation.lastIndexOf("-c"))

export const startReceiver = async (): Promise<Receiver> => {
  let mode: ReceiverMode = { _tag: "accept" }
  const seen = new Set<string>()
  const runs = new Map<string, RunArrivals>()
  const highest = new Map<string, number>()
  const held: Array<{ response: ServerResponse; id: string; text: string }> = []
  let requests = 0
  let duplicates = 0

  const runArrivals = (run: string): RunArrivals => {
    let arrivals = runs.get(run)
    if (arrivals === undefined) {
      arrivals = {
        accepted: 0,
        latencies: [],
        first: Number.NaN,
        last: Number.NaN,
        sequences: new Map(),
        outOfOrder: 0
      }
      runs.set(run, arrivals)
    }
    return arrivals
  }

  const accept = (id: string, text: string, now: number) => {
    if (seen.has(id)) {
      duplicates++
      return
    }
    seen.add(id)
    const [sentAt, conversation = "", sequence] = text.split("|")
    const arrivals = runArrivals(runOf(conversation))
    arrivals.accepted++
    if (Number.isNaN(arrivals.first)) arrivals.first = now
    arrivals.last = now
    if (sentAt === undefined || sequence === undefined) return
    arrivals.latencies.push(now - Number(sentAt))
    const seq = Number(sequence)
    const list = arrivals.sequences.get(conversation)
    if (list === undefined) {
      arrivals.sequences.set(conversation, [seq])
      highest.set(conversation, seq)
    } else {
      const before = highest.get(conversation) ?? -1
      if (seq < before) arrivals.outOfOrder++
      else highest.set(conversation, seq)
      list.push(seq)
    }
  }

  const textOf = (body: string): string => {
    try {
      const parsed = JSON.parse(body) as { payload?: { text?: unknown } }
      return typeof parsed.payload?.text === "string" ? parsed.payload.text : ""
    } catch {
      return ""
    }
  }

  const server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      requests++
      const id = String(request.headers["webhook-id"] ?? "")
      const text = textOf(Buffer.concat(chunks).toString("utf8"))
      switch (mode._tag) {
        case "accept":
          accept(id, text, performance.now())
          response.statusCode = 200
          response.end()
          return
        case "refuse":
          response.statusCode = mode.status
          response.end()
          return
        case "hang":
          held.push({ response, id, text })
          return
      }
    })
  })
  server.keepAliveTimeout = 30_000
  server.headersTimeout = 0
  server.requestTimeout = 0
  server.maxConnections = 50_000
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0

  return {
    url: `http://127.0.0.1:${port}/replies`,
    setMode: (next) => {
      mode = next
    },
    release: () => {
      const now = performance.now()
      const count = held.length
      for (const { response, id, text } of held.splice(0)) {
        accept(id, text, now)
        response.statusCode = 200
        response.end()
      }
      return count
    },
    held: () => held.length,
    accepted: () => seen.size,
    requests: () => requests,
    duplicates: () => duplicates,
    run: runArrivals,
    close: () =>
      new Promise<void>((resolve) => {
        for (const { response } of held.splice(0)) response.socket?.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
