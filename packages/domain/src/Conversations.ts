import { Context, type Effect, Schema } from "effect"
import type * as ConversationCommands from "./ConversationCommands.ts"
import type { ConversationEvent } from "./ConversationEvents.ts"
import type { LoadedDecisionState } from "./ConversationStream.ts"
import type { DuplicateEventId } from "./EventStore.ts"
import type { ConversationId, MessageId, UserId } from "./Ids.ts"
import type { InstallationScope } from "./InstallationScope.ts"
import type { InvalidMessagePayload } from "./MessagePayload.ts"
import type { ConversationNotFound } from "./ReadModels.ts"

/**
 * The front door to conversations, as a port: every command goes through here. The HTTP API and
 * the CLI ask it; the delivery engine answers it (with conversation actors, or load → decide →
 * append per command for tools).
 */

/** The log could not be read or written (database down, a corrupt event): nothing was changed. */
export class ConversationUnavailable extends Schema.TaggedError<ConversationUnavailable>()(
  "ConversationUnavailable",
  { message: Schema.String }
) {}

/**
 * Why a command changed nothing: the decider's rejection (each command's own), an event already
 * recorded, or the store. A user message already recorded is answered as the decider answers a
 * repeat it remembers (`DuplicateUserMessage` naming the original, or `MessageIdReused`), even when
 * only the log's unique event id caught it (an older repeat, or one aimed at another conversation).
 */
export type CommandError<
  C extends ConversationCommands.ConversationCommand = ConversationCommands.ConversationCommand
> =
  | ConversationCommands.RejectionOf<C>
  | (C extends ConversationCommands.ReceiveUserMessage ? never : DuplicateEventId)
  | ConversationUnavailable

export interface CommandResult {
  readonly events: ReadonlyArray<ConversationEvent>
  readonly version: number
}

/** What the inbound webhook answers with: our ids for the message, its user and its conversation. */
export interface ReceivedMessage {
  readonly messageId: MessageId
  readonly userId: UserId
  readonly conversationId: ConversationId
  /** True when this (installation, messageId) was already accepted with the same body. */
  readonly duplicate: boolean
}

/** A message a bot sends on its own (not as the answer to a user message). */
export interface NewBotMessage {
  readonly type: string
  readonly payload: Schema.Json
}

/** Our ids for an accepted bot message or redelivery. */
export interface AcceptedBotMessage {
  readonly messageId: MessageId
  readonly conversationId: ConversationId
}

export class Conversations extends Context.Service<
  Conversations,
  {
    /** Appends the user message (starting the conversation if needed); resolves once it is committed. */
    receive(
      command: ConversationCommands.ReceiveUserMessage
    ): Effect.Effect<ReceivedMessage, ConversationCommands.MessageIdReused | ConversationUnavailable>
    /** Runs any command against one conversation. */
    execute<C extends ConversationCommands.ConversationCommand>(
      conversationId: ConversationId,
      command: C
    ): Effect.Effect<CommandResult, CommandError<C>>
    /**
     * A bot message posted later by the bot; validated, appended, then delivered in order. A
     * conversation outside the scope is not found, like an unknown one.
     */
    post(
      conversationId: ConversationId,
      message: NewBotMessage,
      scope?: InstallationScope
    ): Effect.Effect<
      AcceptedBotMessage,
      ConversationNotFound | InvalidMessagePayload | ConversationUnavailable
    >
    /**
     * The conversation's decision state and stream version as its writer holds them: the live
     * actor's state in memory, or a fresh fold of the log. For inspection.
     */
    state(conversationId: ConversationId): Effect.Effect<LoadedDecisionState, ConversationUnavailable>
    /**
     * Queues a dead-lettered message for delivery again (behind whatever is pending). A message
     * of a conversation outside the scope is unknown, like one that does not exist.
     */
    redeliver(
      messageId: MessageId,
      scope?: InstallationScope
    ): Effect.Effect<
      AcceptedBotMessage,
      ConversationCommands.UnknownBotMessage | ConversationCommands.NotDeadLettered | ConversationUnavailable
    >
  }
>()("@messaging-api/domain/Conversations") {}
