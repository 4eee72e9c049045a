import type {
  CompleteBotTurn,
  FailBotTurn,
  PauseDeliveries,
  PostBotMessage,
  ReceiveUserMessage,
  RecordDeliveryAttempt,
  RejectionOf,
  RequestRedelivery,
  ResumeDeliveries
} from "./ConversationCommands.ts"
import { DuplicateUserMessage, MessageIdReused } from "./ConversationCommands.ts"
import {
  BotMessageEmitted,
  BotTurnCompleted,
  BotTurnFailed,
  type ConversationEvent,
  ConversationStarted,
  DeliveriesPaused,
  DeliveriesResumed,
  DeliveryAttemptFailed,
  MessageDeadLettered,
  MessageDelivered,
  RedeliveryRequested,
  UserMessageReceived
} from "./ConversationEvents.ts"

/**
 * What a command comes to once a decider has looked at the state: the events it records
 * (`recorded`), or for a user message whose id was seen, the rejection (`repeated`). Every decider
 * of the conversation (`ConversationDecider`, and the reference decider on the whole history in
 * the tests) builds its outcomes here, so the two can differ only in what the state lets through.
 */

/** A pull-only conversation's bot messages say so: they are not delivered. */
const deliveryOf = (started: ConversationStarted | null): { readonly delivery?: "pull" } =>
  started?.delivery === "pull" ? { delivery: "pull" } : {}

/**
 * An event's fields are the command's (checked when it was made) or counted here, so making the
 * event parses their structure without running the checks again.
 */
const fromCommand = { disableChecks: true } as const

/**
 * What each command records once the state has let it through: pure functions of the command
 * (and the one fact of the state they need).
 */
export const recorded = {
  userMessage: (command: ReceiveUserMessage, started: boolean): ReadonlyArray<ConversationEvent> => {
    const received = new UserMessageReceived(
      {
        messageId: command.messageId,
        externalMessageId: command.externalMessageId,
        userId: command.userId,
        externalUserId: command.externalUserId,
        type: command.type,
        text: command.text,
        payload: command.payload,
        fingerprint: command.fingerprint,
        receivedAt: command.at
      },
      fromCommand
    )
    if (started) return [received]
    return [
      new ConversationStarted(
        {
          conversationId: command.conversationId,
          installationId: command.installationId,
          externalConversationId: command.externalConversationId,
          startedAt: command.at,
          ...(command.delivery === undefined ? {} : { delivery: command.delivery })
        },
        fromCommand
      ),
      received
    ]
  },
  botTurn: (
    command: CompleteBotTurn,
    started: ConversationStarted | null
  ): ReadonlyArray<ConversationEvent> => [
    ...command.messages.map(
      (message) =>
        new BotMessageEmitted(
          {
            messageId: message.messageId,
            inReplyTo: command.userMessageId,
            type: message.type,
            payload: message.payload,
            emittedAt: command.at,
            ...deliveryOf(started)
          },
          fromCommand
        )
    ),
    new BotTurnCompleted(
      {
        userMessageId: command.userMessageId,
        messageCount: command.messages.length,
        completedAt: command.at
      },
      fromCommand
    )
  ],
  botTurnFailure: (command: FailBotTurn, failuresBefore: number): ConversationEvent =>
    new BotTurnFailed(
      {
        userMessageId: command.userMessageId,
        attempt: failuresBefore + 1,
        reason: command.reason,
        retryAt: command.retryAt,
        failedAt: command.at
      },
      fromCommand
    ),
  botMessage: (command: PostBotMessage, started: ConversationStarted | null): ConversationEvent =>
    new BotMessageEmitted(
      {
        messageId: command.message.messageId,
        inReplyTo: null,
        type: command.message.type,
        payload: command.message.payload,
        emittedAt: command.at,
        ...deliveryOf(started)
      },
      fromCommand
    ),
  attempt: (command: RecordDeliveryAttempt, attemptsBefore: number): ReadonlyArray<ConversationEvent> => {
    const attempt = attemptsBefore + 1
    const outcome = command.outcome
    switch (outcome._tag) {
      case "Delivered":
        return [
          new MessageDelivered(
            {
              messageId: command.messageId,
              attempt,
              status: outcome.status,
              durationMs: command.durationMs,
              deliveredAt: command.at
            },
            fromCommand
          )
        ]
      case "Retry":
        return [
          new DeliveryAttemptFailed(
            {
              messageId: command.messageId,
              attempt,
              status: outcome.status,
              error: outcome.error,
              durationMs: command.durationMs,
              nextAttemptAt: outcome.nextAttemptAt,
              failedAt: command.at
            },
            fromCommand
          )
        ]
      case "DeadLetter":
        return [
          new DeliveryAttemptFailed(
            {
              messageId: command.messageId,
              attempt,
              status: outcome.status,
              error: outcome.reason,
              durationMs: command.durationMs,
              nextAttemptAt: command.at,
              failedAt: command.at
            },
            fromCommand
          ),
          new MessageDeadLettered(
            {
              messageId: command.messageId,
              attempt,
              status: outcome.status,
              reason: outcome.reason,
              deadLetteredAt: command.at
            },
            fromCommand
          )
        ]
    }
  },
  redelivery: (command: RequestRedelivery): ConversationEvent =>
    new RedeliveryRequested({ messageId: command.messageId, requestedAt: command.at }, fromCommand),
  pause: (command: PauseDeliveries, installationId: DeliveriesPaused["installationId"]): ConversationEvent =>
    new DeliveriesPaused(
      {
        installationId,
        failingSince: command.failingSince,
        endpointPausedAt: command.endpointPausedAt,
        lastError: command.lastError,
        pausedAt: command.at
      },
      fromCommand
    ),
  resume: (command: ResumeDeliveries): ConversationEvent =>
    new DeliveriesResumed({ resumedAt: command.at }, fromCommand)
}

/** The rejection of a user message whose id was seen: the same body is a duplicate, another a reuse. */
export const repeated = (
  command: ReceiveUserMessage,
  seen: { readonly messageId: string; readonly userId: string; readonly fingerprint: string }
): RejectionOf<ReceiveUserMessage> =>
  withoutStack(() =>
    seen.fingerprint === command.fingerprint
      ? new DuplicateUserMessage({
          original: {
            messageId: seen.messageId as ReceiveUserMessage["messageId"],
            userId: seen.userId as ReceiveUserMessage["userId"],
            conversationId: command.conversationId
          }
        })
      : new MessageIdReused({ externalMessageId: command.externalMessageId })
  )

/**
 * A rejection is an answer, not a fault: its stack would name only the decider, and capturing it
 * (Effect's fibers make deep stacks) was the largest single cost of answering a repeated webhook.
 */
const withoutStack = <A>(make: () => A): A => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}
