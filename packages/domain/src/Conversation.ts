import { HashMap, Schema } from "effect"
import type {
  BotMessageEmitted,
  BotTurnCompleted,
  BotTurnFailed,
  ConversationEvent,
  ConversationStarted,
  DeliveryAttemptFailed,
  UserMessageReceived
} from "./ConversationEvents.ts"
import { DeliveryStatus } from "./DeliveryStatus.ts"
import { MessageId, UserId } from "./Ids.ts"
import { LoggedInstant } from "./Instant.ts"

/**
 * The state of one conversation, folded from its events by `evolve`. It holds exactly what
 * `decide` and the delivery engine need: who the conversation is, which user messages were
 * seen (for idempotency), which bot turns are open and which bot messages await delivery.
 */
export interface ConversationState {
  readonly started: ConversationStarted | null
  /** Keyed by the caller's messageId. */
  readonly userMessages: HashMap.HashMap<string, UserMessageReceived>
  /** User messages whose bot turn has not finished, oldest first. */
  readonly openTurns: ReadonlyArray<OpenTurn>
  readonly botMessages: HashMap.HashMap<MessageId, BotMessage>
  /** Bot messages awaiting delivery, in the order they must arrive. */
  readonly outbox: ReadonlyArray<MessageId>
  /** The user who wrote last: bot messages posted on the bot's own initiative are addressed to them. */
  readonly lastUserId: UserId | null
  /** Set while the conversation holds its deliveries back (its endpoint is paused). */
  readonly deliveriesPausedAt: LoggedInstant | null
}

export interface OpenTurn {
  readonly userMessageId: MessageId
  readonly userId: UserId
  readonly failures: number
  /** When the next try is due; null for "now". */
  readonly retryAt: LoggedInstant | null
}

/** A bot message and its delivery, as the states hold it (and the decision state's snapshots store it). */
export const BotMessage = Schema.Struct({
  messageId: MessageId,
  inReplyTo: Schema.NullOr(MessageId),
  /** The user the message is addressed to (`botpressUserId` on the wire). */
  userId: Schema.NullOr(UserId),
  type: Schema.String,
  payload: Schema.Unknown,
  emittedAt: LoggedInstant,
  status: DeliveryStatus,
  /** Attempts made since the message was emitted or last redelivered. */
  attempts: Schema.Int,
  nextAttemptAt: Schema.NullOr(LoggedInstant),
  lastError: Schema.NullOr(Schema.String)
})
export type BotMessage = typeof BotMessage.Type

export const initialState: ConversationState = {
  started: null,
  userMessages: HashMap.empty(),
  openTurns: [],
  botMessages: HashMap.empty(),
  outbox: [],
  lastUserId: null,
  deliveriesPausedAt: null
}

const updateBotMessage = (
  state: ConversationState,
  id: MessageId,
  update: (message: BotMessage) => BotMessage
): ConversationState => {
  const current = HashMap.get(state.botMessages, id)
  if (current._tag === "None") return state
  return { ...state, botMessages: HashMap.set(state.botMessages, id, update(current.value)) }
}

const leaveOutbox = (state: ConversationState, id: MessageId): ConversationState => ({
  ...state,
  outbox: state.outbox.filter((queued) => queued !== id)
})

/** A reply goes to the user of the turn it answers; anything else to the last user who wrote. */
const addresseeOf = (state: ConversationState, inReplyTo: MessageId | null): UserId | null =>
  state.openTurns.find((turn) => turn.userMessageId === inReplyTo)?.userId ?? state.lastUserId

/** A bot message as it is emitted: pending, not attempted yet. (The decision state's outbox too.) */
export const emitted = (event: BotMessageEmitted, userId: UserId | null): BotMessage => ({
  messageId: event.messageId,
  inReplyTo: event.inReplyTo,
  userId,
  type: event.type,
  payload: event.payload,
  emittedAt: event.emittedAt,
  status: "pending",
  attempts: 0,
  nextAttemptAt: null,
  lastError: null
})

/** A bot message after a failed attempt. (The decision state's outbox too.) */
export const afterFailedAttempt = (message: BotMessage, event: DeliveryAttemptFailed): BotMessage => ({
  ...message,
  attempts: event.attempt,
  nextAttemptAt: event.nextAttemptAt,
  lastError: event.error
})

/**
 * The open turns after a turn completed or failed: completed, or failed without a retry time,
 * closes it; a failure with one keeps it open until then. (The decision state's turns too.)
 */
export const turnsAfter = <T extends Pick<OpenTurn, "userMessageId" | "failures" | "retryAt">>(
  turns: ReadonlyArray<T>,
  event: BotTurnCompleted | BotTurnFailed
): ReadonlyArray<T> =>
  event._tag === "BotTurnCompleted" || event.retryAt === null
    ? turns.filter((turn) => turn.userMessageId !== event.userMessageId)
    : turns.map((turn) =>
        turn.userMessageId === event.userMessageId
          ? { ...turn, failures: event.attempt, retryAt: event.retryAt }
          : turn
      )

export const evolve = (state: ConversationState, event: ConversationEvent): ConversationState => {
  switch (event._tag) {
    case "ConversationStarted":
      return { ...state, started: event }
    case "UserMessageReceived":
      return {
        ...state,
        userMessages: HashMap.set(state.userMessages, event.externalMessageId, event),
        openTurns: [
          ...state.openTurns,
          { userMessageId: event.messageId, userId: event.userId, failures: 0, retryAt: null }
        ],
        lastUserId: event.userId
      }
    case "BotMessageEmitted":
      return {
        ...state,
        botMessages: HashMap.set(
          state.botMessages,
          event.messageId,
          event.delivery === "pull"
            ? { ...emitted(event, addresseeOf(state, event.inReplyTo)), status: "pull" }
            : emitted(event, addresseeOf(state, event.inReplyTo))
        ),
        outbox: event.delivery === "pull" ? state.outbox : [...state.outbox, event.messageId]
      }
    case "BotTurnCompleted":
    case "BotTurnFailed":
      return { ...state, openTurns: turnsAfter(state.openTurns, event) }
    case "DeliveryAttemptFailed":
      return updateBotMessage(state, event.messageId, (message) => afterFailedAttempt(message, event))
    case "MessageDelivered":
      return leaveOutbox(
        updateBotMessage(state, event.messageId, (message) => ({
          ...message,
          status: "delivered",
          attempts: event.attempt,
          nextAttemptAt: null,
          lastError: null
        })),
        event.messageId
      )
    case "MessageDeadLettered":
      return leaveOutbox(
        updateBotMessage(state, event.messageId, (message) => ({
          ...message,
          status: "dead_lettered",
          attempts: event.attempt,
          nextAttemptAt: null,
          lastError: event.reason
        })),
        event.messageId
      )
    case "RedeliveryRequested":
      return {
        ...updateBotMessage(state, event.messageId, (message) => ({
          ...message,
          status: "pending",
          attempts: 0,
          nextAttemptAt: null
        })),
        outbox: [...state.outbox, event.messageId]
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
  state: ConversationState = initialState
): ConversationState => {
  let current = state
  for (const event of events) current = evolve(current, event)
  return current
}

/** The bot message that must be delivered next, if any. */
export const nextDelivery = (state: ConversationState): BotMessage | undefined => {
  const head = state.outbox[0]
  if (head === undefined) return undefined
  const message = HashMap.get(state.botMessages, head)
  return message._tag === "Some" ? message.value : undefined
}
