import { HashMap, Result } from "effect"
import type { ConversationState } from "../src/Conversation.ts"
import type {
  CompleteBotTurn,
  ConversationCommand,
  ConversationRejection,
  FailBotTurn,
  PostBotMessage,
  ReceiveUserMessage,
  RecordDeliveryAttempt,
  RequestRedelivery
} from "../src/ConversationCommands.ts"
import {
  ConversationNotStarted,
  DuplicateUserMessage,
  MessageIdReused,
  NotDeadLettered,
  UnknownBotMessage
} from "../src/ConversationCommands.ts"
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
} from "../src/ConversationEvents.ts"

/** The decider as it was on the whole history (`Conversation.ts`), kept as the reference the compact decider is checked against. */
/** The result of a command: the events to append (possibly none), or why nothing changes. */
export type Decision = Result.Result<ReadonlyArray<ConversationEvent>, ConversationRejection>

const accept = (...events: ReadonlyArray<ConversationEvent>): Decision => Result.succeed(events)

const receiveUserMessage = (command: ReceiveUserMessage, state: ConversationState): Decision => {
  const seen = HashMap.get(state.userMessages, command.externalMessageId)
  if (seen._tag === "Some") {
    return seen.value.fingerprint === command.fingerprint
      ? Result.fail(
          new DuplicateUserMessage({
            original: {
              messageId: seen.value.messageId,
              userId: seen.value.userId,
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

const isOpenTurn = (state: ConversationState, userMessageId: string) =>
  state.openTurns.some((turn) => turn.userMessageId === userMessageId)

/** Completing a turn that is no longer open is a retry of work already recorded: nothing to add. */
const completeBotTurn = (command: CompleteBotTurn, state: ConversationState): Decision => {
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

const failBotTurn = (command: FailBotTurn, state: ConversationState): Decision => {
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

const postBotMessage = (command: PostBotMessage, state: ConversationState): Decision => {
  if (state.started === null) return Result.fail(new ConversationNotStarted())
  if (command.installationId !== undefined && command.installationId !== state.started.installationId) {
    return Result.fail(new ConversationNotStarted())
  }
  if (HashMap.has(state.botMessages, command.message.messageId)) return accept()
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

/** Attempts are recorded only for the message at the head of the outbox, so order holds. */
const recordDeliveryAttempt = (command: RecordDeliveryAttempt, state: ConversationState): Decision => {
  const message = HashMap.get(state.botMessages, command.messageId)
  if (message._tag === "None") return Result.fail(new UnknownBotMessage({ messageId: command.messageId }))
  if (message.value.status !== "pending" || state.outbox[0] !== command.messageId) return accept()
  const attempt = message.value.attempts + 1
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

const requestRedelivery = (command: RequestRedelivery, state: ConversationState): Decision => {
  const message = HashMap.get(state.botMessages, command.messageId)
  if (message._tag === "None") return Result.fail(new UnknownBotMessage({ messageId: command.messageId }))
  if (message.value.status !== "dead_lettered") {
    return Result.fail(new NotDeadLettered({ messageId: command.messageId, status: message.value.status }))
  }
  return accept(new RedeliveryRequested({ messageId: command.messageId, requestedAt: command.at }))
}

export const decide = (command: ConversationCommand, state: ConversationState): Decision => {
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
