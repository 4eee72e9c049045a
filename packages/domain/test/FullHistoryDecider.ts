import { HashMap, Result } from "effect"
import { recorded, repeated } from "../src/CommandOutcomes.ts"
import type { ConversationState } from "../src/Conversation.ts"
import {
  type ConversationCommand,
  ConversationNotStarted,
  NotDeadLettered,
  UnknownBotMessage
} from "../src/ConversationCommands.ts"
import type { Decision } from "../src/ConversationDecider.ts"
import { allows } from "../src/InstallationScope.ts"

/**
 * The reference the compact decider is checked against: the decisions as they were made on the
 * whole history (`Conversation.ts`, every user and bot message kept). The events a command
 * records are the decider's own (`recorded`); what differs is only what each state knows.
 */
export const decide = (command: ConversationCommand, state: ConversationState): Decision => {
  const accept = (...events: ReadonlyArray<ReturnType<typeof recorded.botMessage>>): Decision =>
    Result.succeed(events)
  switch (command._tag) {
    case "ReceiveUserMessage": {
      const seen = HashMap.get(state.userMessages, command.externalMessageId)
      if (seen._tag === "Some") return Result.fail(repeated(command, seen.value))
      return accept(...recorded.userMessage(command, state.started !== null))
    }
    case "CompleteBotTurn":
      return state.openTurns.some((turn) => turn.userMessageId === command.userMessageId)
        ? accept(...recorded.botTurn(command, state.started))
        : accept()
    case "FailBotTurn": {
      const turn = state.openTurns.find((open) => open.userMessageId === command.userMessageId)
      return turn === undefined ? accept() : accept(recorded.botTurnFailure(command, turn.failures))
    }
    case "PostBotMessage": {
      const started = state.started
      if (started === null || !allows(command.scope ?? "all", started.installationId)) {
        return Result.fail(new ConversationNotStarted())
      }
      if (HashMap.has(state.botMessages, command.message.messageId)) return accept()
      return accept(recorded.botMessage(command, state.started))
    }
    case "RecordDeliveryAttempt": {
      const message = HashMap.get(state.botMessages, command.messageId)
      if (message._tag === "None") return Result.fail(new UnknownBotMessage({ messageId: command.messageId }))
      if (message.value.status !== "pending" || state.outbox[0] !== command.messageId) return accept()
      return accept(...recorded.attempt(command, message.value.attempts))
    }
    case "RequestRedelivery": {
      if (state.started === null || !allows(command.scope ?? "all", state.started.installationId)) {
        return Result.fail(new ConversationNotStarted())
      }
      const message = HashMap.get(state.botMessages, command.messageId)
      if (message._tag === "None") return Result.fail(new UnknownBotMessage({ messageId: command.messageId }))
      if (message.value.status !== "dead_lettered") {
        return Result.fail(
          new NotDeadLettered({ messageId: command.messageId, status: message.value.status })
        )
      }
      return accept(recorded.redelivery(command))
    }
    case "PauseDeliveries":
      return state.started === null || state.outbox.length === 0 || state.deliveriesPausedAt !== null
        ? accept()
        : accept(recorded.pause(command, state.started.installationId))
    case "ResumeDeliveries":
      return state.deliveriesPausedAt === null ? accept() : accept(recorded.resume(command))
  }
}
