import { Schema } from "effect"
import { afterFailedAttempt, BotMessage, emitted, turnsAfter } from "./Conversation.ts"
import { type ConversationEvent, ConversationStarted, UserMessageReceived } from "./ConversationEvents.ts"
import { MessageId, UserId } from "./Ids.ts"
import { LoggedInstant } from "./Instant.ts"

/**
 * What `decide` needs of a conversation, and no more: who it is, the latest user messages (to
 * answer a repeat from memory), the open bot turns with the message each answers, the bot messages
 * still to deliver, the dead letters (what a redelivery puts back) and a count of the delivered.
 * Its size does not grow with the conversation's history: delivered messages and finished turns
 * leave it. This is the state a live actor holds. (`Conversation.ts` folds the whole history, for
 * replay and inspection.)
 *
 * What leaves the state is still guarded, by the event store: a user message repeated after it
 * left the window, or a bot message id used again, is refused by the unique event id (the ids
 * are derived from the caller's ids), and the writer answers it from the stored event.
 */

/** How many of the latest user messages are kept for answering a repeat from memory. */
export const RECENT_USER_MESSAGES = 32

const SeenUserMessage = Schema.Struct({
  externalMessageId: Schema.String,
  messageId: MessageId,
  userId: UserId,
  fingerprint: Schema.String
})
export type SeenUserMessage = typeof SeenUserMessage.Type

const OpenTurn = Schema.Struct({
  userMessageId: MessageId,
  userId: UserId,
  failures: Schema.Int,
  /** When the next try is due; null for "now". */
  retryAt: Schema.NullOr(LoggedInstant),
  /** The user message the bot answers. */
  message: UserMessageReceived
})
export type OpenTurn = typeof OpenTurn.Type

/**
 * The decision state, declared once: its type, and its JSON for snapshots and for the actor's
 * inspection over the cluster's wire.
 */
export const DecisionStateSchema = Schema.Struct({
  started: Schema.NullOr(ConversationStarted),
  /** The latest user messages, oldest first, at most `RECENT_USER_MESSAGES`. */
  recentUserMessages: Schema.Array(SeenUserMessage),
  /** User messages whose bot turn has not finished, oldest first. */
  openTurns: Schema.Array(OpenTurn),
  /** Bot messages awaiting delivery, in the order they must arrive. */
  outbox: Schema.Array(BotMessage),
  /** Dead-lettered bot messages, in the order they were given up on. */
  deadLetters: Schema.Array(BotMessage),
  /** Bot messages delivered so far (they leave the state). */
  delivered: Schema.Int,
  /** The user who wrote last: bot messages posted on the bot's own initiative are addressed to them. */
  lastUserId: Schema.NullOr(UserId),
  /** Set while the conversation holds its deliveries back (`DeliveriesPaused` … `DeliveriesResumed`). */
  deliveriesPausedAt: Schema.NullOr(LoggedInstant)
})
export type DecisionState = typeof DecisionStateSchema.Type

export const initialState: DecisionState = {
  started: null,
  recentUserMessages: [],
  openTurns: [],
  outbox: [],
  deadLetters: [],
  delivered: 0,
  lastUserId: null,
  deliveriesPausedAt: null
}

const updateOutbox = (
  state: DecisionState,
  id: MessageId,
  update: (message: BotMessage) => BotMessage
): DecisionState => ({
  ...state,
  outbox: state.outbox.map((message) => (message.messageId === id ? update(message) : message))
})

/** A reply goes to the user of the turn it answers; anything else to the last user who wrote. */
const addresseeOf = (state: DecisionState, inReplyTo: MessageId | null): UserId | null =>
  state.openTurns.find((turn) => turn.userMessageId === inReplyTo)?.userId ?? state.lastUserId

export const evolve = (state: DecisionState, event: ConversationEvent): DecisionState => {
  switch (event._tag) {
    case "ConversationStarted":
      return { ...state, started: event }
    case "UserMessageReceived": {
      const seen: SeenUserMessage = {
        externalMessageId: event.externalMessageId,
        messageId: event.messageId,
        userId: event.userId,
        fingerprint: event.fingerprint
      }
      const recent = [...state.recentUserMessages, seen]
      return {
        ...state,
        recentUserMessages:
          recent.length > RECENT_USER_MESSAGES ? recent.slice(-RECENT_USER_MESSAGES) : recent,
        openTurns: [
          ...state.openTurns,
          { userMessageId: event.messageId, userId: event.userId, failures: 0, retryAt: null, message: event }
        ],
        lastUserId: event.userId
      }
    }
    case "BotMessageEmitted":
      // A pull-only conversation's messages are read, never delivered: nothing to send.
      if (event.delivery === "pull") return state
      return {
        ...state,
        outbox: [...state.outbox, emitted(event, addresseeOf(state, event.inReplyTo))]
      }
    case "BotTurnCompleted":
    case "BotTurnFailed":
      return { ...state, openTurns: turnsAfter(state.openTurns, event) }
    case "DeliveryAttemptFailed":
      return updateOutbox(state, event.messageId, (message) => afterFailedAttempt(message, event))
    case "MessageDelivered": {
      if (!state.outbox.some((message) => message.messageId === event.messageId)) return state
      return {
        ...state,
        outbox: state.outbox.filter((message) => message.messageId !== event.messageId),
        delivered: state.delivered + 1
      }
    }
    case "MessageDeadLettered": {
      const message = state.outbox.find((queued) => queued.messageId === event.messageId)
      if (message === undefined) return state
      return {
        ...state,
        outbox: state.outbox.filter((queued) => queued.messageId !== event.messageId),
        deadLetters: [
          ...state.deadLetters,
          {
            ...message,
            status: "dead_lettered",
            attempts: event.attempt,
            nextAttemptAt: null,
            lastError: event.reason
          }
        ]
      }
    }
    case "RedeliveryRequested": {
      const message = state.deadLetters.find((dead) => dead.messageId === event.messageId)
      if (message === undefined) return state
      return {
        ...state,
        deadLetters: state.deadLetters.filter((dead) => dead.messageId !== event.messageId),
        outbox: [...state.outbox, { ...message, status: "pending", attempts: 0, nextAttemptAt: null }]
      }
    }
    case "DeliveriesPaused":
      return { ...state, deliveriesPausedAt: event.pausedAt }
    case "DeliveriesResumed":
      return { ...state, deliveriesPausedAt: null }
  }
}

/** Folds events onto a state. */
export const fold = (
  events: Iterable<ConversationEvent>,
  state: DecisionState = initialState
): DecisionState => {
  let current = state
  for (const event of events) current = evolve(current, event)
  return current
}

/** The bot message that must be delivered next, if any. */
export const nextDelivery = (state: DecisionState): BotMessage | undefined => state.outbox[0]
