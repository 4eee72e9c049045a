import type { UserMessageReceived } from "@messaging-api/domain/ConversationEvents"
import type { ConversationId, ExternalId } from "@messaging-api/domain/Ids"
import type { Installation } from "@messaging-api/domain/Installation"
import { Schema } from "effect"
import type { AttemptFailure } from "./DeliveryPolicy.ts"

/** What goes into a bot and what comes out of it. */

export interface BotTurn {
  readonly installation: Installation
  readonly conversationId: ConversationId
  readonly externalConversationId: ExternalId
  readonly message: UserMessageReceived
}

/** One message from the bot: a type and its payload. */
export const BotReply = Schema.Struct({ type: Schema.NonEmptyString, payload: Schema.Json })
export type BotReply = typeof BotReply.Type

/**
 * The bot failed this turn, as a delivery attempt fails (`DeliveryPolicy`): a transient failure is
 * tried again along the bot-turn schedule, a permanent one ends the turn; `error` is the reason.
 */
export type BotFailure = AttemptFailure
