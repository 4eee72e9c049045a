import type { StoredEvent } from "@messaging-api/domain/ReadModels"
import { Effect, Schedule, Stream } from "effect"
import { clientFor, describeError } from "./Api.ts"

/**
 * A conversation's events, live, through the typed client: `GET /v1/conversations/{id}/events`
 * with `Accept: text/event-stream`, read with fetch (a browser's EventSource cannot send the
 * Authorization header). When the stream breaks or ends it is opened again with `Last-Event-ID`
 * set to the last version seen, so nothing is missed and nothing is seen twice.
 */

export type LiveState =
  | { readonly _tag: "connecting" }
  | { readonly _tag: "live" }
  | { readonly _tag: "reconnecting"; readonly reason: string }
  | { readonly _tag: "stopped"; readonly reason: string }

export interface Follow {
  readonly token: string
  readonly conversationId: string
  /** The last version already seen (0: from the start). */
  readonly after: number
  readonly onEvent: (event: StoredEvent) => void
  readonly onState: (state: LiveState) => void
}

const isTransient = (error: unknown): boolean => {
  if (error instanceof StreamEnded) return true
  const status = describeError(error).status
  return status === undefined || status === 429 || status === 503
}

class StreamEnded {
  readonly _tag = "StreamEnded"
}

export const follow = (options: Follow) => {
  let last = options.after
  const once = Effect.gen(function* () {
    const client = yield* clientFor(options.token)
    const response = yield* client.history.conversationEvents({
      params: { conversationId: options.conversationId },
      query: {},
      headers: { accept: "text/event-stream", ...(last > 0 ? { "last-event-id": String(last) } : {}) }
    })
    if (!Stream.isStream(response)) return yield* Effect.fail(new StreamEnded())
    options.onState({ _tag: "live" })
    yield* Stream.runForEach(response, (event) =>
      Effect.sync(() => {
        last = event.data.version
        options.onEvent(event.data)
      })
    )
    // The server ended the stream (a restart, a deploy): open it again.
    return yield* Effect.fail(new StreamEnded())
  })
  return once.pipe(
    Effect.tapError((error) =>
      Effect.sync(() =>
        options.onState({
          _tag: "reconnecting",
          reason: error instanceof StreamEnded ? "the stream ended" : describeError(error).message
        })
      )
    ),
    // Not found, signed out or refused: reconnecting cannot help.
    Effect.retry({ schedule: Schedule.spaced("500 millis"), while: (error) => isTransient(error) }),
    Effect.catch((error) =>
      Effect.sync(() => options.onState({ _tag: "stopped", reason: describeError(error).message }))
    )
  )
}
