import { EventStore } from "@messaging-api/domain"
import { Context, Effect, Layer } from "effect"
import * as LogFanOut from "./LogFanOut.ts"

/**
 * Every conversation's new events, from one reader of the log per process, for whoever waits on
 * a conversation: its live streams and `?wait=` requests. Keyed by stream id. Conversation readers
 * need no global order (a conversation's own versions order it), so the follower does not wait long
 * behind a transaction that holds the xid horizon (`LOG_STALL_BOUND`).
 */
export class ConversationFeed extends Context.Service<ConversationFeed, LogFanOut.LogFanOut>()(
  "@messaging-api/http/ConversationFeed"
) {
  static readonly layer = Layer.effect(
    ConversationFeed,
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      return yield* LogFanOut.make({
        head: store.head,
        follow: (from) => store.subscribe(from, { stallBound: EventStore.LOG_STALL_BOUND }),
        keyOf: (event) => event.streamId,
        buffer: FEED_BUFFER
      })
    })
  )
}

/**
 * Events one reader may have waiting; a reader that falls further behind is ended (a live
 * stream's client reconnects with the last id it saw and misses nothing).
 */
export const FEED_BUFFER = 1000
