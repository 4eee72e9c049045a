import { HashMap } from "effect"
import type {
  ConversationEvent,
  ConversationStarted,
  Instant,
  UserMessageReceived
} from "./ConversationEvents.ts"
import type { MessageId, UserId } from "./Ids.ts"

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
}

export interface OpenTurn {
  readonly userMessageId: MessageId
  readonly userId: UserId
  readonly failures: number
  /** When the next try is due; null for "now". */
  readonly retryAt: Instant | null
}

export type DeliveryStatus = "pending" | "delivered" | "dead_lettered"

export interface BotMessage {
  readonly messageId: MessageId
  readonly inReplyTo: MessageId | null
  /** The user the message is addressed to (`botpressUserId` on the wire). */
  readonly userId: UserId | null
  readonly type: string
  readonly payload: unknown
  readonly emittedAt: Instant
  readonly status: DeliveryStatus
  /** Attempts made since the message was emitted or last redelivered. */
  readonly attempts: number
  readonly nextAttemptAt: Instant | null
  readonly lastError: string | null
}

export const initialState: ConversationState = {
  started: null,
  userMessages: HashMap.empty(),
  openTurns: [],
  botMessages: HashMap.empty(),
  outbox: [],
  lastUserId: null
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
        botMessages: HashMap.set(state.botMessages, event.messageId, {
          messageId: event.messageId,
          inReplyTo: event.inReplyTo,
          userId: addresseeOf(state, event.inReplyTo),
          type: event.type,
          payload: event.payload,
          emittedAt: event.emittedAt,
          status: "pending",
          attempts: 0,
          nextAttemptAt: null,
          lastError: null
        }),
        outbox: [...state.outbox, event.messageId]
      }
    case "BotTurnCompleted":
      return {
        ...state,
        openTurns: state.openTurns.filter((turn) => turn.userMessageId !== event.userMessageId)
      }
    case "BotTurnFailed":
      return {
        ...state,
        openTurns:
          event.retryAt === null
            ? state.openTurns.filter((turn) => turn.userMessageId !== event.userMessageId)
            : state.openTurns.map((turn) =>
                turn.userMessageId === event.userMessageId
                  ? { ...turn, failures: event.attempt, retryAt: event.retryAt }
                  : turn
              )
      }
    case "DeliveryAttemptFailed":
      return updateBotMessage(state, event.messageId, (message) => ({
        ...message,
        attempts: event.attempt,
        nextAttemptAt: event.nextAttemptAt,
        lastError: event.error
      }))
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
