import { ConversationStream, EventStore, Ids } from "@messaging-api/domain"
import type { ConversationEvent } from "@messaging-api/domain/ConversationEvents"
import { Context, Deferred, Duration, Effect, Layer, Option, Result, Stream } from "effect"
import type { SqlError } from "effect/sql"
import type { Reply } from "../api/WebhooksApi.ts"
import { ConversationFeed } from "./ConversationFeed.ts"

/**
 * The bot messages one user message's turn produced, for `POST /webhooks/{id}?wait=`: read from
 * the conversation's stream, and when the turn is still open, from the process's one conversation
 * feed (`ConversationFeed`: however many requests wait, the log is read once) until the turn
 * completes or fails for good, or the wait ends. Whoever runs the turn (this process or another runner) appends its messages and
 * its completion together, so the answer never holds part of a turn.
 */
export class TurnReplies extends Context.Service<
  TurnReplies,
  {
    /** The turn's bot messages, in order, as far as they exist within `wait`. */
    await(
      conversationId: Ids.ConversationId,
      userMessageId: Ids.MessageId,
      wait: Duration.Duration
    ): Effect.Effect<ReadonlyArray<Reply>, SqlError.SqlError>
  }
>()("@messaging-api/http/TurnReplies") {
  static readonly layer = Layer.effect(
    TurnReplies,
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const feed = yield* ConversationFeed

      const wait = Effect.fn("TurnReplies.await")(function* (
        conversationId: Ids.ConversationId,
        userMessageId: Ids.MessageId,
        limit: Duration.Duration
      ) {
        const streamId = Ids.conversationStream(conversationId)
        const turn = new TurnProgress(userMessageId)
        return yield* Effect.scoped(
          Effect.gen(function* () {
            // Subscribed before the stream is read: whatever commits later comes through the feed.
            const live = yield* feed.subscribe(streamId)
            const [received] = yield* store.readEvents([userMessageId])
            yield* store
              .readStream(streamId, received?.streamId === streamId ? received.version : 1)
              .pipe(Stream.runForEach((recorded) => Effect.sync(() => turn.see(recorded))))
            if (turn.done || Duration.isZero(limit)) return turn.replies
            yield* live.pipe(
              Stream.runForEach((recorded) => Effect.sync(() => turn.see(recorded))),
              // A feed that falls behind or fails ends the wait: the answer holds what was seen.
              Effect.catchTag("StreamFellBehind", () => Effect.void),
              // `see` marks the turn done; the stream is ended by interruption below.
              Effect.raceFirst(turn.finished),
              Effect.timeoutOption(limit)
            )
            return turn.replies
          })
        )
      })

      return TurnReplies.of({ await: wait })
    })
  )
}

/** One turn's bot messages as its events go by (each event seen once, by stream version). */
class TurnProgress {
  readonly replies: Array<Reply> = []
  done = false
  private version = 0
  private readonly ended = Deferred.makeUnsafe<void>()
  readonly finished: Effect.Effect<void> = Deferred.await(this.ended)

  readonly userMessageId: Ids.MessageId

  constructor(userMessageId: Ids.MessageId) {
    this.userMessageId = userMessageId
  }

  see(recorded: EventStore.RecordedEvent): void {
    if (recorded.version <= this.version || this.done) return
    this.version = recorded.version
    const decoded = Result.getSuccess(ConversationStream.decodeRecorded(recorded))
    if (Option.isNone(decoded)) return
    this.apply(decoded.value)
  }

  private apply(event: ConversationEvent): void {
    switch (event._tag) {
      case "BotMessageEmitted":
        if (event.inReplyTo === this.userMessageId) {
          this.replies.push({ botpressMessageId: event.messageId, type: event.type, payload: event.payload })
        }
        return
      case "BotTurnCompleted":
        if (event.userMessageId === this.userMessageId) this.end()
        return
      case "BotTurnFailed":
        // A failure with a retry time keeps the turn open: the retry may answer within the wait.
        if (event.userMessageId === this.userMessageId && event.retryAt === null) this.end()
        return
      default:
        return
    }
  }

  private end(): void {
    this.done = true
    Deferred.doneUnsafe(this.ended, Effect.void)
  }
}
