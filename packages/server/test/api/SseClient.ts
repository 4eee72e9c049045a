import { Effect, type Scope } from "effect"
import type { HttpServer } from "effect/http"
import { baseUrl } from "./TestServer.ts"

/** A client of the live streams over real HTTP: fetch, reading Server-Sent Events frame by frame. */

/** One SSE frame: an event (id, event, data) or a comment. */
export interface Frame {
  readonly comment?: string
  readonly id?: string
  readonly event?: string
  readonly data?: string
}

export const parseFrame = (text: string): Frame => {
  const frame: { comment?: string; id?: string; event?: string; data?: string } = {}
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) frame.comment = line.slice(1).trim()
    else {
      const colon = line.indexOf(":")
      const field = line.slice(0, colon)
      const value = line.slice(colon + 1).replace(/^ /, "")
      if (field === "id" || field === "event") frame[field] = value
      if (field === "data") frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`
    }
  }
  return frame
}

export interface EventSourceLike {
  readonly status: number
  readonly headers: Headers
  /** The next frame, waiting for it. */
  readonly next: Effect.Effect<Frame>
  /** Hangs up. */
  readonly close: Effect.Effect<void>
}

/** Opens a stream with fetch; it is closed with the scope at the latest. */
export const connect = (
  path: string,
  token: string,
  headers: Record<string, string> = {}
): Effect.Effect<EventSourceLike, never, Scope.Scope | HttpServer.HttpServer> =>
  Effect.gen(function* () {
    const url = yield* baseUrl
    const controller = new AbortController()
    const response = yield* Effect.promise(() =>
      fetch(`${url}${path}`, {
        headers: { accept: "text/event-stream", authorization: `Bearer ${token}`, ...headers },
        signal: controller.signal
      })
    )
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let buffer = ""
    const next = Effect.promise(async (): Promise<Frame> => {
      for (;;) {
        const end = buffer.indexOf("\n\n")
        if (end >= 0) {
          const text = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          return parseFrame(text)
        }
        const chunk = await reader.read()
        if (chunk.done) throw new Error("the stream ended")
        buffer += decoder.decode(chunk.value, { stream: true })
      }
    })
    const close = Effect.sync(() => controller.abort())
    yield* Effect.addFinalizer(() => close)
    return { status: response.status, headers: response.headers, next, close }
  })

/** The next `count` events, skipping comments. */
export const events = (stream: EventSourceLike, count: number) =>
  Effect.gen(function* () {
    const frames: Array<Frame> = []
    while (frames.length < count) {
      const frame = yield* stream.next
      if (frame.comment === undefined) frames.push(frame)
    }
    return frames
  })

/** Every event until a heartbeat comment: what arrived while the stream went idle. */
export const untilHeartbeat = (stream: EventSourceLike) =>
  Effect.gen(function* () {
    const frames: Array<Frame> = []
    for (;;) {
      const frame = yield* stream.next
      if (frame.comment === "heartbeat") return frames
      if (frame.comment === undefined) frames.push(frame)
    }
  })

export const ids = (frames: ReadonlyArray<Frame>) => frames.map((frame) => frame.id)

/** Reads until the server ends the stream (the test's timeout bounds the wait). */
export const ended = (stream: EventSourceLike) =>
  Effect.gen(function* () {
    for (;;) {
      const frame = yield* Effect.exit(stream.next)
      if (frame._tag === "Failure") return
    }
  })
