import { ConversationOwners, EventStore, Ids, ReadModelProjection, ReadModels } from "@messaging-api/domain"
import { Context, Effect, Layer, Option, Schema, Stream } from "effect"
import { Sse } from "effect/encoding"
import { HttpServerResponse } from "effect/http"
import type { SqlError } from "effect/sql"
import { ConversationSseEvent, InstallationSseEvent } from "../api/HistoryApi.ts"
import { HttpSettings } from "../HttpSettings.ts"

/**
 * Conversation events as Server-Sent Events. A conversation's stream replays its events after the
 * last version the client saw, then follows the global log; an installation's stream follows the
 * global log from an opaque place in it. Either way a client that reconnects with the last id it
 * saw (`Last-Event-ID`) misses nothing and sees nothing twice. Idle streams send `: heartbeat`
 * comments so that proxies keep them open.
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
    const installationOf = (yield* ConversationOwners.ConversationOwners).ownerOf

    /** Completes once `allowed` answers false (an error asking it keeps the stream: it is no answer). */
    const accessLost = (allowed: Effect.Effect<boolean>) =>
      allowed.pipe(
        Effect.delay(ACCESS_CHECK_INTERVAL),
        Effect.repeat({ until: (stillAllowed) => !stillAllowed })
      )

    /** The body of every stream: a first comment (so the headers leave at once), events, heartbeats. */
    const respond = (events: Stream.Stream<string, SqlError.SqlError>, caller: StreamCaller) => {
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
          Stream.fromEffect(Effect.logWarning("event stream ended: the event store failed", error)).pipe(
            Stream.drain
          )
        ),
        Stream.encodeText
      )
      return HttpServerResponse.stream(body, {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
      })
    }

    // `from` is taken before the backlog is read: whatever commits after the read is after it.
    const conversationEvents = (
      conversationId: Ids.ConversationId,
      afterVersion: number,
      from: EventStore.LogPosition
    ) =>
      Stream.suspend(() => {
        const streamId = Ids.conversationStream(conversationId)
        let last = afterVersion
        const rest = () => store.readStream(streamId, last + 1)
        // The log's order is the commit order, which may differ from version order: a new event of
        // the stream only says "read the stream again", and the stream is read in version order.
        const live = store
          .subscribe(from)
          .pipe(
            Stream.flatMap((event) =>
              event.streamId === streamId && event.version > last ? Stream.suspend(rest) : Stream.empty
            )
          )
        return Stream.suspend(rest).pipe(
          Stream.concat(live),
          Stream.filter((event) => {
            if (event.version <= last) return false
            last = event.version
            return true
          })
        )
      })

    const belongsTo = (event: EventStore.RecordedEvent, installationId: Ids.InstallationId) => {
      const conversationId = ReadModelProjection.conversationOfStream(event.streamId)
      if (conversationId === undefined) return Effect.succeed(false)
      return installationOf(conversationId as Ids.ConversationId).pipe(
        Effect.map(
          (owner) => Option.isSome(owner) && owner.value.toLowerCase() === installationId.toLowerCase()
        )
      )
    }

    const installationEvents = (installationId: Ids.InstallationId, from: EventStore.LogPosition) =>
      store.subscribe(from).pipe(Stream.filterEffect((event) => belongsTo(event, installationId)))

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
          Effect.map(store.head, (from) =>
            respond(
              conversationEvents(conversationId, afterVersion, from).pipe(
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
          Effect.map(after === undefined ? store.head : Effect.succeed(after), (from) =>
            respond(
              installationEvents(installationId, from).pipe(
                Stream.map((event) =>
                  render(
                    encodeInstallationEvent({
                      id: positionId(EventStore.logPositionOf(event)),
                      event: event.type,
                      data: {
                        conversationId: ReadModelProjection.conversationOfStream(event.streamId) ?? "",
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
