import { randomUUID } from "node:crypto"
import { Effect, Result, Schema, Stream } from "effect"
import type { SqlError } from "effect/sql"
import { type ConversationState, evolve, initialState } from "./Conversation.ts"
import { ConversationEvent } from "./ConversationEvents.ts"
import * as DecisionState from "./DecisionState.ts"
import {
  type EventStore,
  type LogPosition,
  logStart,
  type NewEvent,
  type RecordedEvent
} from "./EventStore.ts"
import {
  type ConversationId,
  conversationStream,
  isConversationStream,
  type MessageId,
  uuidV5
} from "./Ids.ts"

/**
 * How conversation events go into and come out of the log: `type` is the tag, `data` the fields,
 * and the event id derived where the log's unique id must refuse a repeat (`toNewEvents`).
 */

export class UnknownEventType extends Schema.TaggedError<UnknownEventType>()("UnknownEventType", {
  streamId: Schema.String,
  version: Schema.Finite,
  type: Schema.String
}) {}

export class MalformedEvent extends Schema.TaggedError<MalformedEvent>()("MalformedEvent", {
  streamId: Schema.String,
  version: Schema.Finite,
  type: Schema.String,
  message: Schema.String
}) {}

export type EventDecodeError = UnknownEventType | MalformedEvent

const encode = Schema.encodeSync(ConversationEvent)

export interface EventMetadata {
  readonly [key: string]: unknown
}

/** One event for the log under the given event id (`toNewEvents` derives the ids). */
export const toNewEvent = (event: ConversationEvent, eventId: string, metadata?: EventMetadata): NewEvent => {
  const { _tag, ...data } = encode(event)
  return { eventId, type: _tag, data, metadata }
}

/** The event id a bot message's `BotMessageEmitted` is stored under: how its conversation is found. */
export const botMessageEventId = (messageId: MessageId): string => uuidV5("bot-message-emitted", messageId)

/**
 * An event's id in the log. Derived from the command where a repeat must not append twice (the
 * log's unique event id refuses it): a conversation starts once, a user message's event id *is*
 * its message id, a bot message is emitted once. Random otherwise.
 */
export const eventIdOf = (event: ConversationEvent): string => {
  switch (event._tag) {
    case "ConversationStarted":
      return uuidV5("conversation-started", event.conversationId)
    case "UserMessageReceived":
      return event.messageId
    case "BotMessageEmitted":
      return botMessageEventId(event.messageId)
    default:
      return randomUUID()
  }
}

/** A decision's events as the log stores them: each encoded, under its event id (`eventIdOf`). */
export const toNewEvents = (events: ReadonlyArray<ConversationEvent>): Array<NewEvent> =>
  events.map((event) => toNewEvent(event, eventIdOf(event)))

/** One decoder per event type: the row's type names its schema, so no union member is tried in vain (about 30 % faster). */
const decoders: ReadonlyMap<
  string,
  (input: unknown) => Result.Result<ConversationEvent, Schema.SchemaError>
> = new Map(
  Object.entries(ConversationEvent.cases).map(([type, schema]) => [
    type,
    Schema.decodeUnknownResult(schema as Schema.Codec<ConversationEvent, unknown>)
  ])
)

/** Decodes one recorded event, without an Effect per event (the fold of a whole log calls it a million times). */
export const decodeRecorded = (
  recorded: RecordedEvent
): Result.Result<ConversationEvent, EventDecodeError> => {
  const decode = decoders.get(recorded.type)
  if (decode === undefined) {
    return Result.fail(
      new UnknownEventType({ streamId: recorded.streamId, version: recorded.version, type: recorded.type })
    )
  }
  return Result.mapError(
    decode({ ...(recorded.data as object), _tag: recorded.type }),
    (error) =>
      new MalformedEvent({
        streamId: recorded.streamId,
        version: recorded.version,
        type: recorded.type,
        message: error.message
      })
  )
}

export const fromRecorded = (recorded: RecordedEvent): Effect.Effect<ConversationEvent, EventDecodeError> =>
  Effect.fromResult(decodeRecorded(recorded))

/** A state folded from a stream, with the version it was folded up to. */
export interface Loaded<S> {
  readonly state: S
  /** The stream version the state was folded up to: the expected version of the next append. */
  readonly version: number
}

/** The whole history folded (`Conversation.ts`): replay and inspection. */
export type LoadedConversation = Loaded<ConversationState>

/** The compact state `decide` needs (`DecisionState.ts`): what writers and live actors hold. */
export type LoadedDecisionState = Loaded<DecisionState.DecisionState>

const loadWith =
  <S>(initial: S, step: (state: S, event: ConversationEvent) => S) =>
  (
    store: EventStore["Service"],
    conversationId: ConversationId,
    options?: { readonly untilVersion?: number }
  ): Effect.Effect<Loaded<S>, SqlError.SqlError | EventDecodeError> =>
    store.readStream(conversationStream(conversationId)).pipe(
      Stream.takeWhile(
        (event) => options?.untilVersion === undefined || event.version <= options.untilVersion
      ),
      Stream.mapEffect(fromRecorded),
      Stream.runFold(
        (): Loaded<S> => ({ state: initial, version: 0 }),
        (loaded, event) => ({ state: step(loaded.state, event), version: loaded.version + 1 })
      )
    )

/** Reads a conversation's stream and folds its whole history, optionally stopping at a version. */
export const load = loadWith(initialState, evolve)

/** Reads a conversation's stream and folds what deciding needs (what a writer holds). */
export const loadDecisionState = loadWith(DecisionState.initialState, DecisionState.evolve)

/**
 * Folds every conversation of the global log (from a position on): one state per stream, as
 * `load` would give for each. Pages of the log are read ahead while the previous one is folded.
 * Streams that are not conversations are left out, and so are events of types this version does
 * not know (written by a newer one), as the read-model projector does; a known event that does
 * not match its schema fails the fold.
 */
export const foldLog = (
  store: EventStore["Service"],
  options?: { readonly from?: LogPosition; readonly batchSize?: number }
): Effect.Effect<Map<string, LoadedConversation>, SqlError.SqlError | EventDecodeError> =>
  Effect.suspend(() => {
    const folded = new Map<string, LoadedConversation>()
    return store.readAll(options?.from ?? logStart, options?.batchSize ?? 5_000).pipe(
      Stream.bufferArray({ capacity: 2 }),
      Stream.runForEachArray((page) => {
        for (const recorded of page) {
          if (!isConversationStream(recorded.streamId)) continue
          const event = decodeRecorded(recorded)
          if (Result.isFailure(event)) {
            if (event.failure._tag === "UnknownEventType") continue
            return Effect.fail(event.failure)
          }
          const current = folded.get(recorded.streamId)
          folded.set(recorded.streamId, {
            state: evolve(current?.state ?? initialState, event.success),
            version: recorded.version
          })
        }
        return Effect.void
      }),
      Effect.as(folded)
    )
  })
