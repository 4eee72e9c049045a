import { randomUUID } from "node:crypto"
import { Effect, Result, Schema, Stream } from "effect"
import type { SqlError } from "effect/sql"
import { type ConversationState, evolve, initialState } from "./Conversation.ts"
import { ConversationEvent } from "./ConversationEvents.ts"
import * as DecisionState from "./DecisionState.ts"
import type { EventStore, NewEvent, RecordedEvent } from "./EventStore.ts"
import { type ConversationId, conversationStream, type MessageId, uuidV5 } from "./Ids.ts"

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

/**
 * One decoder per event type: the row's type names its schema, so no union member is tried in vain
 * (about 30 % faster). Each decodes the row's data with the struct of its class's own fields, every
 * check included, and makes the instance from the fields that decode returned, as the class's
 * own decode does once it has checked them: through the class schema the same event costs a
 * declaration layer and a constructor pass more, about 30 % of the decode on the replay benchmark's
 * events. `DecodeRecorded.test.ts` holds the two equal for every event type.
 */
const decoderOf = (type: string, schema: (typeof ConversationEvent.cases)[ConversationEvent["_tag"]]) => {
  const { _tag, ...fields }: Schema.Struct.Fields = schema.fields
  // Typed loosely, as the fields of any one event type: every field's schema needs no service.
  const decodeFields = Schema.decodeUnknownResult(Schema.Struct(fields) as unknown as Schema.Decoder<object>)
  const prototype: object = schema.prototype
  return (data: unknown): Result.Result<ConversationEvent, Schema.SchemaError> =>
    Result.map(decodeFields(data), (value) => {
      const event = Object.create(prototype)
      event._tag = type
      return Object.assign(event, value)
    })
}

const decoders: ReadonlyMap<string, (data: unknown) => Result.Result<ConversationEvent, Schema.SchemaError>> =
  new Map(Object.entries(ConversationEvent.cases).map(([type, schema]) => [type, decoderOf(type, schema)]))

/** Decodes one recorded event, without an Effect per event (the fold of a whole log calls it a million times). */
export const decodeRecorded = (
  recorded: Pick<RecordedEvent, "streamId" | "version" | "type" | "data">
): Result.Result<ConversationEvent, EventDecodeError> => {
  const decode = decoders.get(recorded.type)
  if (decode === undefined) {
    return Result.fail(
      new UnknownEventType({ streamId: recorded.streamId, version: recorded.version, type: recorded.type })
    )
  }
  return Result.mapError(
    decode(recorded.data),
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
