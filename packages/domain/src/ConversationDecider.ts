import { Result } from "effect"
import type {
  CompleteBotTurn,
  ConversationCommand,
  ConversationRejection,
  FailBotTurn,
  PostBotMessage,
  ReceiveUserMessage,
  RecordDeliveryAttempt,
  RequestRedelivery
} from "./ConversationCommands.ts"
import {
  ConversationNotStarted,
  DuplicateUserMessage,
  MessageIdReused,
  NotDeadLettered,
  UnknownBotMessage
} from "./ConversationCommands.ts"
import {
  BotMessageEmitted,
  BotTurnCompleted,
  BotTurnFailed,
  type ConversationEvent,
  ConversationStarted,
  DeliveryAttemptFailed,
  MessageDeadLettered,
  MessageDelivered,
  RedeliveryRequested,
  UserMessageReceived
} from "./ConversationEvents.ts"
import type { DecisionState } from "./DecisionState.ts"

/** The result of a command: the events to append (possibly none), or why nothing changes. */
export type Decision = Result.Result<ReadonlyArray<ConversationEvent>, ConversationRejection>

const accept = (...events: ReadonlyArray<ConversationEvent>): Decision => Result.succeed(events)

/**
 * A repeat of one of the latest user messages is answered here; an older one is appended again
 * and refused by the event store (its event id is the message id), whose answer the front door
 * turns into the same duplicate or conflict.
 */
const receiveUserMessage = (command: ReceiveUserMessage, state: DecisionState): Decision => {
  const seen = state.recentUserMessages.find(
    (message) => message.externalMessageId === command.externalMessageId
  )
  if (seen !== undefined) {
    return seen.fingerprint === command.fingerprint
      ? Result.fail(
          new DuplicateUserMessage({
            original: {
              messageId: seen.messageId,
              userId: seen.userId,
              conversationId: command.conversationId
            }
          })
        )
      : Result.fail(new MessageIdReused({ externalMessageId: command.externalMessageId }))
  }
  const received = new UserMessageReceived({
    messageId: command.messageId,
    externalMessageId: command.externalMessageId,
    userId: command.userId,
    externalUserId: command.externalUserId,
    type: command.type,
    text: command.text,
    payload: command.payload,
    fingerprint: command.fingerprint,
    receivedAt: command.at
  })
  if (state.started !== null) return accept(received)
  return accept(
    new ConversationStarted({
      conversationId: command.conversationId,
      installationId: command.installationId,
      externalConversationId: command.externalConversationId,
      startedAt: command.at
    }),
    received
  )
}

const isOpenTurn = (state: DecisionState, userMessageId: string) =>
  state.openTurns.some((turn) => turn.userMessageId === userMessageId)

/** Completing a turn that is no longer open is a retry of work already recorded: nothing to add. */
const completeBotTurn = (command: CompleteBotTurn, state: DecisionState): Decision => {
  if (!isOpenTurn(state, command.userMessageId)) return accept()
  return accept(
    ...command.messages.map(
      (message) =>
        new BotMessageEmitted({
          messageId: message.messageId,
          inReplyTo: command.userMessageId,
          type: message.type,
          payload: message.payload,
          emittedAt: command.at
        })
    ),
    new BotTurnCompleted({
      userMessageId: command.userMessageId,
      messageCount: command.messages.length,
      completedAt: command.at
    })
  )
}

const failBotTurn = (command: FailBotTurn, state: DecisionState): Decision => {
  const turn = state.openTurns.find((open) => open.userMessageId === command.userMessageId)
  if (turn === undefined) return accept()
  return accept(
    new BotTurnFailed({
      userMessageId: command.userMessageId,
      attempt: turn.failures + 1,
      reason: command.reason,
      retryAt: command.retryAt,
      failedAt: command.at
    })
  )
}

const postBotMessage = (command: PostBotMessage, state: DecisionState): Decision => {
  if (state.started === null) return Result.fail(new ConversationNotStarted())
  if (command.installationId !== undefined && command.installationId !== state.started.installationId) {
    return Result.fail(new ConversationNotStarted())
  }
  // An id still held is a repeat; one already delivered is refused by the event store's unique event id.
  if (held(state, command.message.messageId) !== undefined) return accept()
  return accept(
    new BotMessageEmitted({
      messageId: command.message.messageId,
      inReplyTo: null,
      type: command.message.type,
      payload: command.message.payload,
      emittedAt: command.at
    })
  )
}

/** A bot message the state still holds: pending delivery or dead-lettered. */
const held = (state: DecisionState, id: string) =>
  state.outbox.find((message) => message.messageId === id) ??
  state.deadLetters.find((message) => message.messageId === id)

/**
 * Attempts are recorded only for the message at the head of the outbox, so order holds; an
 * attempt for any other message (one further back, dead-lettered or delivered) changes nothing.
 */
const recordDeliveryAttempt = (command: RecordDeliveryAttempt, state: DecisionState): Decision => {
  const head = state.outbox[0]
  if (head === undefined || head.messageId !== command.messageId) return accept()
  const attempt = head.attempts + 1
  const outcome = command.outcome
  switch (outcome._tag) {
    case "Delivered":
      return accept(
        new MessageDelivered({
          messageId: command.messageId,
          attempt,
          status: outcome.status,
          durationMs: command.durationMs,
          deliveredAt: command.at
        })
      )
    case "Retry":
      return accept(
        new DeliveryAttemptFailed({
          messageId: command.messageId,
          attempt,
          status: outcome.status,
          error: outcome.error,
          durationMs: command.durationMs,
          nextAttemptAt: outcome.nextAttemptAt,
          failedAt: command.at
        })
      )
    case "DeadLetter":
      return accept(
        new DeliveryAttemptFailed({
          messageId: command.messageId,
          attempt,
          status: outcome.status,
          error: outcome.reason,
          durationMs: command.durationMs,
          nextAttemptAt: command.at,
          failedAt: command.at
        }),
        new MessageDeadLettered({
          messageId: command.messageId,
          attempt,
          status: outcome.status,
          reason: outcome.reason,
          deadLetteredAt: command.at
        })
      )
  }
}

/**
 * Only a dead letter can be delivered again. A message the state no longer holds was delivered
 * (or never was this conversation's): `UnknownBotMessage`, which the front door, knowing from the
 * log that the message exists, answers as not dead-lettered.
 */
const requestRedelivery = (command: RequestRedelivery, state: DecisionState): Decision => {
  const message = held(state, command.messageId)
  if (message === undefined) return Result.fail(new UnknownBotMessage({ messageId: command.messageId }))
  if (message.status !== "dead_lettered") {
    return Result.fail(new NotDeadLettered({ messageId: command.messageId, status: message.status }))
  }
  return accept(new RedeliveryRequested({ messageId: command.messageId, requestedAt: command.at }))
}

export const decide = (command: ConversationCommand, state: DecisionState): Decision => {
  switch (command._tag) {
    case "ReceiveUserMessage":
      return receiveUserMessage(command, state)
    case "CompleteBotTurn":
      return completeBotTurn(command, state)
    case "FailBotTurn":
      return failBotTurn(command, state)
    case "PostBotMessage":
      return postBotMessage(command, state)
    case "RecordDeliveryAttempt":
      return recordDeliveryAttempt(command, state)
    case "RequestRedelivery":
      return requestRedelivery(command, state)
  }
}
