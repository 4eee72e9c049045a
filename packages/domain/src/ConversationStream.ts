import { Effect, Schema, Stream } from "effect"
import type { SqlError } from "effect/sql"
import { type ConversationState, evolve, initialState } from "./Conversation.ts"
import { ConversationEvent } from "./ConversationEvents.ts"
import type { EventStore, NewEvent, RecordedEvent } from "./EventStore.ts"
import { type ConversationId, conversationStream } from "./Ids.ts"

/** How conversation events go into and come out of the log: `type` is the tag, `data` the fields. */

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
const decode = Schema.decodeUnknownEffect(ConversationEvent)
const knownTypes: ReadonlySet<string> = new Set(Object.keys(ConversationEvent.cases))

export interface EventMetadata {
  readonly [key: string]: unknown
}

export const toNewEvent = (event: ConversationEvent, eventId: string, metadata?: EventMetadata): NewEvent => {
  const { _tag, ...data } = encode(event)
  return { eventId, type: _tag, data, metadata }
}

export const fromRecorded = (recorded: RecordedEvent): Effect.Effect<ConversationEvent, EventDecodeError> => {
  if (!knownTypes.has(recorded.type)) {
    return Effect.fail(
      new UnknownEventType({ streamId: recorded.streamId, version: recorded.version, type: recorded.type })
    )
  }
  return decode({ ...(recorded.data as object), _tag: recorded.type }).pipe(
    Effect.mapError(
      (error) =>
        new MalformedEvent({
          streamId: recorded.streamId,
          version: recorded.version,
          type: recorded.type,
          message: error.message
        })
    )
  )
}

export interface LoadedConversation {
  readonly state: ConversationState
  /** The stream version the state was folded up to: the expected version of the next append. */
  readonly version: number
}

/** Reads a conversation's stream and folds it, optionally stopping at a version. */
export const load = (
  store: EventStore["Service"],
  conversationId: ConversationId,
  options?: { readonly untilVersion?: number }
): Effect.Effect<LoadedConversation, SqlError.SqlError | EventDecodeError> =>
  store.readStream(conversationStream(conversationId)).pipe(
    Stream.takeWhile((event) => options?.untilVersion === undefined || event.version <= options.untilVersion),
    Stream.mapEffect(fromRecorded),
    Stream.runFold(
      () => ({ state: initialState, version: 0 }),
      (loaded: LoadedConversation, event) => ({
        state: evolve(loaded.state, event),
        version: loaded.version + 1
      })
    )
  )
