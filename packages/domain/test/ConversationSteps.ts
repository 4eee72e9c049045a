import { randomUUID } from "node:crypto"
import { Schema } from "effect"
import {
  CompleteBotTurn,
  type ConversationCommand,
  FailBotTurn,
  PauseDeliveries,
  PostBotMessage,
  ReceiveUserMessage,
  RecordDeliveryAttempt,
  RequestRedelivery,
  ResumeDeliveries
} from "../src/ConversationCommands.ts"
import type { DecisionState } from "../src/DecisionState.ts"
import {
  conversationIdFor,
  type InstallationId,
  type MessageId,
  newMessageId,
  userIdFor,
  userMessageIdFor
} from "../src/Ids.ts"

/**
 * Random lives of one conversation, for property tests: each step is drawn from its Schema (small
 * numbers that pick among the messages and turns the conversation has at that point) and becomes
 * a command on what the conversation holds then (`commandFor`). The domain's replay property and
 * the engine's actor-state property (delivery) draw the same steps.
 */

const Small = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 }))

/** A user message; the same message again is a duplicate, edited a reused id. */
export const Receive = Schema.TaggedStruct("Receive", { message: Small, user: Small, edited: Schema.Boolean })
/** The bot's answer to an open turn (or to a turn that is not open). */
export const Complete = Schema.TaggedStruct("Complete", { turn: Small, replies: Small })
export const Fail = Schema.TaggedStruct("Fail", { turn: Small, giveUp: Schema.Boolean })
/** A bot message posted by the application; `otherInstallation`: scoped to an installation not the conversation's. */
export const Post = Schema.TaggedStruct("Post", { otherInstallation: Schema.Boolean })
export const Attempt = Schema.TaggedStruct("Attempt", {
  message: Small,
  outcome: Schema.Literals(["delivered", "retry", "dead_letter"])
})
export const Redeliver = Schema.TaggedStruct("Redeliver", { message: Small })
export const Pause = Schema.TaggedStruct("Pause", {})
export const Resume = Schema.TaggedStruct("Resume", {})

export const Step = Schema.Union([Receive, Complete, Fail, Post, Attempt, Redeliver, Pause, Resume])
export type Step = typeof Step.Type

/** Every conversation starts with a user message; the rest is up to chance. */
export const opening: typeof Receive.Type = { _tag: "Receive", message: 0, user: 0, edited: false }

/** What a step needs to know of the conversation to become a command. */
export interface Conversation {
  readonly installationId: InstallationId
  readonly externalConversationId: string
  /** The time of the next command. */
  readonly at: () => string
  /** The user messages whose bot turns are open. */
  readonly openTurns: ReadonlyArray<MessageId>
  /** The bot message next to deliver. */
  readonly outboxHead: MessageId | undefined
  readonly deadLetters: ReadonlyArray<MessageId>
  /** Every bot message emitted so far. */
  readonly emitted: ReadonlyArray<MessageId>
}

/** What a decision state holds of a `Conversation`. */
export const heldBy = (state: DecisionState) => ({
  openTurns: state.openTurns.map((turn) => turn.userMessageId),
  outboxHead: state.outbox[0]?.messageId,
  deadLetters: state.deadLetters.map((message) => message.messageId)
})

/** A clock for `Conversation.at`: a second later on every call. */
export const ticking = (from = "2026-11-25T12:00:00.000Z") => {
  let clock = Date.parse(from)
  return () => {
    clock += 1000
    return new Date(clock).toISOString()
  }
}

const nth = <A>(items: ReadonlyArray<A>, i: number): A | undefined =>
  items.length === 0 ? undefined : items[i % items.length]

export const commandFor = (step: Step, conversation: Conversation): ConversationCommand => {
  const { at, emitted } = conversation
  switch (step._tag) {
    case "Receive": {
      const { installationId, externalConversationId } = conversation
      const externalMessageId = `${externalConversationId}-m${step.message}`
      const text = step.edited ? `edited ${step.message}` : `text ${step.message}`
      const user = `user-${step.user}`
      return new ReceiveUserMessage({
        conversationId: conversationIdFor(installationId, externalConversationId),
        installationId,
        externalConversationId,
        messageId: userMessageIdFor(installationId, externalMessageId),
        externalMessageId,
        userId: userIdFor(installationId, user),
        externalUserId: user,
        type: "text",
        text,
        payload: { text },
        fingerprint: text,
        at: at()
      })
    }
    case "Complete":
      return new CompleteBotTurn({
        userMessageId: nth(conversation.openTurns, step.turn) ?? newMessageId(),
        messages: Array.from({ length: step.replies }, (_, i) => ({
          messageId: newMessageId(),
          type: "text",
          payload: { text: `reply ${i}` }
        })),
        at: at()
      })
    case "Fail":
      return new FailBotTurn({
        userMessageId: nth(conversation.openTurns, step.turn) ?? newMessageId(),
        reason: "bot unavailable",
        retryAt: step.giveUp ? null : at(),
        at: at()
      })
    case "Post":
      return new PostBotMessage({
        message: { messageId: newMessageId(), type: "text", payload: { text: "posted" } },
        ...(step.otherInstallation ? { installationId: randomUUID() as InstallationId } : {}),
        at: at()
      })
    case "Attempt": {
      // Mostly the outbox's head (the only message attempts are recorded for), sometimes another.
      const messageId =
        (step.message < 3 ? conversation.outboxHead : undefined) ??
        nth(emitted, step.message) ??
        newMessageId()
      const time = at()
      const outcome =
        step.outcome === "delivered"
          ? { _tag: "Delivered" as const, status: 200 }
          : step.outcome === "retry"
            ? { _tag: "Retry" as const, status: 503, error: "HTTP 503", nextAttemptAt: time }
            : { _tag: "DeadLetter" as const, status: 410, reason: "HTTP 410" }
      return new RecordDeliveryAttempt({ messageId, outcome, durationMs: 5, at: time })
    }
    case "Redeliver":
      return new RequestRedelivery({
        messageId:
          nth(conversation.deadLetters, step.message) ?? nth(emitted, step.message) ?? newMessageId(),
        at: at()
      })
    case "Pause": {
      const time = at()
      return new PauseDeliveries({
        failingSince: time,
        endpointPausedAt: time,
        lastError: "HTTP 503",
        at: time
      })
    }
    case "Resume":
      return new ResumeDeliveries({ at: at() })
  }
}
