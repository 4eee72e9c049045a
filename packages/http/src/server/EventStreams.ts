import { ConversationOwners, ConversationStream, EventStore, Ids, ReadModels } from "@messaging-api/domain"
import { Context, Effect, Layer, Option, Result, Schema, Stream } from "effect"
import { Sse } from "effect/encoding"
import { HttpServerResponse } from "effect/http"
import type { SqlError } from "effect/sql"
import { ConversationSseEvent, InstallationSseEvent } from "../api/HistoryApi.ts"
import { HttpSettings } from "../HttpSettings.ts"
import { ConversationFeed, FEED_BUFFER } from "./ConversationFeed.ts"
import * as LogFanOut from "./LogFanOut.ts"

/**
 * Conversation events as Server-Sent Events. A conversation's stream replays its events after the
 * last version the client saw, then follows the global log; an installation's stream follows the
 * global log from an opaque place in it. Either way a client that reconnects with the last id it
 * saw (`Last-Event-ID`) misses nothing and sees nothing twice. Idle streams send `: heartbeat`
 * comments so that proxies keep them open. However many streams are open, the process follows the
 * log twice at most: one follower for the conversation streams, one for the installation streams
 * (`LogFanOut`), each running while it has streams.
 */
export class EventStreams extends Context.Service<
  EventStreams,
  {
    /**
     * The conversation's events after `afterVersion`, then each new one as it commits, for as long
     * as `allowed` (asked again every `ACCESS_CHECK_INTERVAL`) holds.
     */
    conversation(
      conversationId: Ids.ConversationId,
      afterVersion: number,
      caller: StreamCaller
    ): Effect.Effect<HttpServerResponse.HttpServerResponse, SqlError.SqlError | TooManyStreams>
    /**
     * The events of the installation's conversations after `after`, for as long as `allowed`
     * holds; without `after`, those committed once this answers.
     */
    installation(
      installationId: Ids.InstallationId,
      after: EventStore.LogPosition | undefined,
      caller: StreamCaller
    ): Effect.Effect<HttpServerResponse.HttpServerResponse, SqlError.SqlError | TooManyStreams>
  }
>()("@messaging-api/http/EventStreams") {
  static readonly layer = Layer.effect(EventStreams, make())
}

/** A conversation stream's event id: the stream version. */
export const parseVersionId = (id: string): Option.Option<number> =>
  /^\d{1,15}$/.test(id) ? Option.some(Number(id)) : Option.none()

/** An installation stream's event id: the event's place in the global log, opaque to clients. */
export const positionId = (position: EventStore.LogPosition): string =>
  `${position.transactionId}:${position.position}`

export const parsePositionId = (id: string): Option.Option<EventStore.LogPosition> => {
  const match = /^(\d{1,15}):(\d{1,15})$/.exec(id)
  return match === null
    ? Option.none()
    : Option.some({ transactionId: Number(match[1]), position: Number(match[2]) })
}

/** Who opens a stream: its token (streams are counted per token) and what to ask again while it is open. */
export interface StreamCaller {
  readonly tokenId: string
  /** Whether the caller may still read the stream: a false ends it. */
  readonly allowed: Effect.Effect<boolean>
}

/** The token already holds `limit` open streams. */
export class TooManyStreams extends Schema.TaggedError<TooManyStreams>()("TooManyStreams", {
  limit: Schema.Number
}) {}

/**
 * How often an open stream asks again whether its caller may still read it: a revoked token or a
 * deleted installation ends the stream within about a second (the checks are cached briefly).
 */
export const ACCESS_CHECK_INTERVAL = "250 millis"

const encodeConversationEvent = Schema.encodeSync(ConversationSseEvent)
const encodeInstallationEvent = Schema.encodeSync(InstallationSseEvent)

const storedEvent = (event: EventStore.RecordedEvent): ReadModels.StoredEvent =>
  ReadModels.StoredEvent.fromRecorded(event)

const render = (encoded: { readonly id: string; readonly event: string; readonly data: string }): string =>
  Sse.encoder.write({ _tag: "Event", id: encoded.id, event: encoded.event, data: encoded.data })

function make() {
  return Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const { heartbeatInterval, maxStreamsPerToken } = yield* HttpSettings
    // Open streams per token, counted while each response body runs.
    const openStreams = new Map<string, number>()
    const closeStream = (tokenId: string) =>
      Effect.sync(() => {
        const open = (openStreams.get(tokenId) ?? 1) - 1
        if (open <= 0) openStreams.delete(tokenId)
        else openStreams.set(tokenId, open)
      })
    /** Counts a stream of the token in, or refuses it; the count is given back when the body ends. */
    const openStream = (tokenId: string) =>
      Effect.suspend(() => {
        const open = openStreams.get(tokenId) ?? 0
        if (open >= maxStreamsPerToken) return Effect.fail(new TooManyStreams({ limit: maxStreamsPerToken }))
        openStreams.set(tokenId, open + 1)
        return Effect.void
      })
    const owners = yield* ConversationOwners.ConversationOwners

    /** Completes once `allowed` answers false (an error asking it keeps the stream: it is no answer). */
    const accessLost = (allowed: Effect.Effect<boolean>) =>
      allowed.pipe(
        Effect.delay(ACCESS_CHECK_INTERVAL),
        Effect.repeat({ until: (stillAllowed) => !stillAllowed })
      )

    /** The body of every stream: a first comment (so the headers leave at once), events, heartbeats. */
    const respond = (events: Stream.Stream<string, LogFanOut.FanOutError>, caller: StreamCaller) => {
      const heartbeats = Stream.tick(heartbeatInterval).pipe(
        Stream.drop(1),
        Stream.map(() => ": heartbeat\n\n")
      )
      const body = Stream.succeed(": connected\n\n").pipe(
        Stream.concat(Stream.merge(events, heartbeats, { haltStrategy: "left" })),
        // The caller lost access (token revoked, installation deleted): the stream ends.
        Stream.interruptWhen(accessLost(caller.allowed)),
        Stream.ensuring(closeStream(caller.tokenId)),
        // The client reconnects with the last id it saw, so ending the stream loses nothing.
        Stream.catch((error) =>
          Stream.fromEffect(
            error._tag === "StreamFellBehind"
              ? Effect.logInfo("event stream ended: its client fell behind", error)
              : Effect.logWarning("event stream ended: the event store failed", error)
          ).pipe(Stream.drain)
        ),
        Stream.encodeText
      )
      return HttpServerResponse.stream(body, {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
      })
    }

    // Shared with `?wait=` requests (see ConversationFeed).
    const conversationFeed = yield* ConversationFeed

    /** The installation an event goes to: known without a read but for a conversation not seen yet. */
    const installationKeyOf = (
      event: EventStore.RecordedEvent
    ): LogFanOut.Key | Effect.Effect<LogFanOut.Key, SqlError.SqlError> => {
      const conversationId = Ids.conversationOfStream(event.streamId)
      if (conversationId === undefined) return undefined
      // A conversation's first event names its owner: remembered, no read for it or its next events.
      if (event.version === 1 && event.type === "ConversationStarted") {
        const started = ConversationStream.decodeRecorded(event)
        if (Result.isSuccess(started) && started.success._tag === "ConversationStarted") {
          owners.started(started.success)
          return started.success.installationId
        }
      }
      return (
        owners.remembered(conversationId) ??
        owners
          .ownerOf(conversationId)
          .pipe(Effect.map((owner) => (Option.isSome(owner) ? owner.value : undefined)))
      )
    }

    // Installation streams resume from a place in the log, so theirs keeps to the log's order.
    const installationFeed = yield* LogFanOut.make({
      head: store.head,
      follow: (from) => store.subscribe(from),
      keyOf: installationKeyOf,
      buffer: FEED_BUFFER
    })

    /**
     * The backlog after `afterVersion` from the stream itself, then the shared feed, subscribed to
     * before the backlog is read. The feed's order is not the stream's (commit order, and past a
     * long transaction not even that): an event right after the last one sent goes out, one
     * further on means "read the stream again from the last one sent", an older one is dropped.
     */
    const conversationEvents = (conversationId: Ids.ConversationId, afterVersion: number) =>
      Stream.unwrap(
        Effect.gen(function* () {
          const streamId = Ids.conversationStream(conversationId)
          const live = yield* conversationFeed.subscribe(streamId)
          let last = afterVersion
          const sent = (event: EventStore.RecordedEvent) => {
            last = event.version
            return event
          }
          const backlog = Stream.suspend(() => store.readStream(streamId, last + 1)).pipe(Stream.map(sent))
          const next = (event: EventStore.RecordedEvent) =>
            Effect.suspend(() => {
              if (event.version <= last) return Effect.succeed([])
              if (event.version === last + 1) return Effect.succeed([sent(event)])
              return Stream.runCollect(store.readStream(streamId, last + 1)).pipe(
                Effect.map((events) => events.filter((read) => read.version > last).map(sent))
              )
            })
          return backlog.pipe(Stream.concat(live.pipe(Stream.mapEffect(next), Stream.flattenIterable)))
        })
      )

    const after = (event: EventStore.LogPosition, position: EventStore.LogPosition) =>
      event.transactionId > position.transactionId ||
      (event.transactionId === position.transactionId && event.position > position.position)

    const belongsTo = (event: EventStore.RecordedEvent, installationId: Ids.InstallationId) => {
      const key = installationKeyOf(event)
      return key === undefined || typeof key === "string"
        ? Effect.succeed(key === installationId)
        : Effect.map(key, (found) => found === installationId)
    }

    /**
     * The log after `from` up to the horizon, then the shared feed, subscribed
     * to before: both are in log order, so the feed's events up to the last place read are dropped.
     */
    const installationEvents = (installationId: Ids.InstallationId, from: EventStore.LogPosition) =>
      Stream.unwrap(
        Effect.gen(function* () {
          const live = yield* installationFeed.subscribe(installationId)
          let last = from
          const backlog = Stream.suspend(() => store.readAll(last)).pipe(
            Stream.map((event) => {
              last = EventStore.logPositionOf(event)
              return event
            }),
            Stream.filterEffect((event) => belongsTo(event, installationId))
          )
          const fresh = live.pipe(
            Stream.filter((event) => {
              if (!after(EventStore.logPositionOf(event), last)) return false
              last = EventStore.logPositionOf(event)
              return true
            })
          )
          return backlog.pipe(Stream.concat(fresh))
        })
      )

    /**
     * Counts a stream of the caller's token in (or refuses it), then builds its response; the count
     * is given back when the body ends, or at once when no response is built.
     */
    const counted = (
      caller: StreamCaller,
      build: Effect.Effect<HttpServerResponse.HttpServerResponse, SqlError.SqlError>
    ) =>
      Effect.andThen(
        openStream(caller.tokenId),
        build.pipe(Effect.onError(() => closeStream(caller.tokenId)))
      )

    return EventStreams.of({
      conversation: (conversationId, afterVersion, caller) =>
        counted(
          caller,
          Effect.sync(() =>
            respond(
              conversationEvents(conversationId, afterVersion).pipe(
                Stream.map((event) =>
                  render(
                    encodeConversationEvent({
                      id: String(event.version),
                      event: event.type,
                      data: storedEvent(event)
                    })
                  )
                )
              ),
              caller
            )
          )
        ),
      installation: (installationId, after, caller) =>
        counted(
          caller,
          // Without an id the stream starts where the log is when this answers (taken before the
          // headers leave: a client that sends something once it has them sees it).
          Effect.map(after === undefined ? store.head : Effect.succeed(after), (from) =>
            respond(
              installationEvents(installationId, from).pipe(
                Stream.map((event) =>
                  render(
                    encodeInstallationEvent({
                      id: positionId(EventStore.logPositionOf(event)),
                      event: event.type,
                      data: {
                        conversationId: Ids.conversationOfStream(event.streamId) ?? "",
                        ...storedEvent(event)
                      }
                    })
                  )
                )
              ),
              caller
            )
          )
        )
    })
  })
}
