import {
  ConversationCommands,
  ConversationDecider,
  ConversationEvents,
  ConversationStream,
  EventStore,
  Ids
} from "@messaging-api/domain"
import { Context, Effect, Layer, Result, Schedule, Schema } from "effect"
import type { SqlError } from "effect/sql"

/**
 * The front door to conversations: every command goes through here. The layer below runs each
 * command as load → decide → append, retrying when another writer got there first (the event
 * store's expected-version check is the guard). The actor layer keeps the same contract.
 */

/** What the inbound webhook answers with: our ids for the message, its user and its conversation. */
export interface ReceivedMessage {
  readonly messageId: Ids.MessageId
  readonly userId: Ids.UserId
  readonly conversationId: Ids.ConversationId
  /** True when this (installation, messageId) was already accepted with the same body. */
  readonly duplicate: boolean
}

export class ConversationNotFound extends Schema.TaggedError<ConversationNotFound>()("ConversationNotFound", {
  conversationId: Schema.String
}) {}

/** The log could not be read or written (database down, a corrupt event): nothing was changed. */
export class ConversationUnavailable extends Schema.TaggedError<ConversationUnavailable>()(
  "ConversationUnavailable",
  { message: Schema.String }
) {}

/** Why a command changed nothing: the decider's rejection, an event already recorded, or the store. */
export type CommandError =
  | ConversationCommands.ConversationRejection
  | EventStore.DuplicateEventId
  | ConversationUnavailable

export interface CommandResult {
  readonly events: ReadonlyArray<ConversationEvents.ConversationEvent>
  readonly version: number
}

export class Conversations extends Context.Service<
  Conversations,
  {
    /** Appends the user message (starting the conversation if needed); resolves once it is committed. */
    receive(
      command: ConversationCommands.ReceiveUserMessage
    ): Effect.Effect<ReceivedMessage, ConversationCommands.MessageIdReused | ConversationUnavailable>
    /** Runs any command against one conversation. */
    execute(
      conversationId: Ids.ConversationId,
      command: ConversationCommands.ConversationCommand
    ): Effect.Effect<CommandResult, CommandError>
  }
>()("@messaging-api/delivery/Conversations") {
  static readonly layerDirect = Layer.effect(
    Conversations,
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const execute = makeExecute(store)
      return Conversations.of({ execute, receive: makeReceive(store, execute) })
    })
  )
}

const unavailable = (error: SqlError.SqlError | ConversationStream.EventDecodeError) =>
  new ConversationUnavailable({
    message: error._tag === "SqlError" ? "the event store is unavailable" : error.message
  })

/** Event ids are derived from the command where a repeat must not append twice. */
export const eventIdFor = (event: ConversationEvents.ConversationEvent): string => {
  switch (event._tag) {
    case "ConversationStarted":
      return Ids.uuidV5("conversation-started", event.conversationId)
    case "UserMessageReceived":
      return event.messageId
    case "BotMessageEmitted":
      return Ids.uuidV5("bot-message-emitted", event.messageId)
    default:
      return crypto.randomUUID()
  }
}

export const makeExecute =
  (store: EventStore.EventStore["Service"]) =>
  (
    conversationId: Ids.ConversationId,
    command: ConversationCommands.ConversationCommand
  ): Effect.Effect<CommandResult, CommandError> =>
    Effect.gen(function* () {
      const loaded = yield* ConversationStream.load(store, conversationId)
      const decision = ConversationDecider.decide(command, loaded.state)
      if (Result.isFailure(decision)) return yield* decision.failure
      const events = decision.success
      if (events.length === 0) return { events, version: loaded.version }
      const appended = yield* store.append(
        Ids.conversationStream(conversationId),
        loaded.version,
        events.map((event) => ConversationStream.toNewEvent(event, eventIdFor(event)))
      )
      return { events, version: appended.version }
    }).pipe(
      Effect.retry({
        while: (error) => error._tag === "WrongExpectedVersion",
        schedule: Schedule.spaced("1 millis"),
        times: 20
      }),
      Effect.catchTags({
        WrongExpectedVersion: () =>
          Effect.fail(
            new ConversationUnavailable({ message: "too many concurrent writers on one conversation" })
          ),
        SqlError: (error) => Effect.fail(unavailable(error)),
        UnknownEventType: (error) => Effect.fail(unavailable(error)),
        MalformedEvent: (error) => Effect.fail(unavailable(error))
      }),
      Effect.withSpan("Conversations.execute", { attributes: { conversationId, command: command._tag } })
    )

/**
 * Receiving is `execute` plus idempotency across conversations: the user message's event id is
 * derived from (installation, messageId), so a repeat aimed at another conversation is caught by
 * the event store's unique event id and answered from the original event.
 */
export const makeReceive =
  (store: EventStore.EventStore["Service"], execute: Conversations["Service"]["execute"]) =>
  (
    command: ConversationCommands.ReceiveUserMessage
  ): Effect.Effect<ReceivedMessage, ConversationCommands.MessageIdReused | ConversationUnavailable> =>
    execute(command.conversationId, command).pipe(
      Effect.as<ReceivedMessage>({
        messageId: command.messageId,
        userId: command.userId,
        conversationId: command.conversationId,
        duplicate: false
      }),
      Effect.catchTags({
        DuplicateUserMessage: (duplicate) => Effect.succeed({ ...duplicate.original, duplicate: true }),
        DuplicateEventId: () => originalOf(store, command)
      }),
      Effect.catchTags({
        ConversationNotStarted: (error) => Effect.die(error),
        UnknownBotMessage: (error) => Effect.die(error),
        NotDeadLettered: (error) => Effect.die(error)
      })
    )

const decodeReceived = Schema.decodeUnknownOption(ConversationEvents.UserMessageReceived)

const originalOf = (
  store: EventStore.EventStore["Service"],
  command: ConversationCommands.ReceiveUserMessage
): Effect.Effect<ReceivedMessage, ConversationCommands.MessageIdReused | ConversationUnavailable> =>
  store.readEvents([command.messageId]).pipe(
    Effect.mapError(unavailable),
    Effect.flatMap(
      (
        found
      ): Effect.Effect<ReceivedMessage, ConversationCommands.MessageIdReused | ConversationUnavailable> => {
        const recorded = found[0]
        const original = decodeReceived({ ...(recorded?.data as object), _tag: recorded?.type })
        if (recorded === undefined || original._tag === "None") {
          return Effect.fail(
            new ConversationUnavailable({ message: "the original message could not be read" })
          )
        }
        if (original.value.fingerprint !== command.fingerprint) {
          return Effect.fail(
            new ConversationCommands.MessageIdReused({ externalMessageId: command.externalMessageId })
          )
        }
        return Effect.succeed<ReceivedMessage>({
          messageId: original.value.messageId,
          userId: original.value.userId,
          conversationId: recorded.streamId.slice("conversation-".length) as Ids.ConversationId,
          duplicate: true
        })
      }
    )
  )
