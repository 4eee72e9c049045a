import { Result } from "effect"
import { recorded, repeated } from "./CommandOutcomes.ts"
import type {
  CompleteBotTurn,
  ConversationCommand,
  FailBotTurn,
  PauseDeliveries,
  PostBotMessage,
  ReceiveUserMessage,
  RecordDeliveryAttempt,
  RejectionOf,
  RequestRedelivery,
  ResumeDeliveries
} from "./ConversationCommands.ts"
import { ConversationNotStarted, NotDeadLettered, UnknownBotMessage } from "./ConversationCommands.ts"
import type { ConversationEvent } from "./ConversationEvents.ts"
import type { DecisionState } from "./DecisionState.ts"
import * as InstallationScope from "./InstallationScope.ts"

/** The answer to a user message whose id was already seen (the writer asks it too, for repeats the log holds). */
export { repeated }

/** The result of a command: the events to append (possibly none), or why nothing changes. */
export type Decision<C extends ConversationCommand = ConversationCommand> = Result.Result<
  ReadonlyArray<ConversationEvent>,
  RejectionOf<C>
>

/** The events to append, as the array they were built in (no rest-parameter copy per command). */
const accept = (events: ReadonlyArray<ConversationEvent>): Decision<never> => Result.succeed(events)

/** A command that changes nothing: one shared result, its empty array never written to. */
const nothing: Decision<never> = accept(Object.freeze([]))

/**
 * A repeat of one of the latest user messages is answered here; an older one is appended again
 * and refused by the event store (its event id is the message id), whose answer the writer
 * (`ConversationWriter`) turns into the same duplicate or conflict.
 */
const receiveUserMessage = (
  command: ReceiveUserMessage,
  state: DecisionState
): Decision<ReceiveUserMessage> => {
  const seen = state.recentUserMessages.find(
    (message) => message.externalMessageId === command.externalMessageId
  )
  if (seen !== undefined) return Result.fail(repeated(command, seen))
  return accept(recorded.userMessage(command, state.started !== null))
}

const isOpenTurn = (state: DecisionState, userMessageId: string) =>
  state.openTurns.some((turn) => turn.userMessageId === userMessageId)

/** Completing a turn that is no longer open is a retry of work already recorded: nothing to add. */
const completeBotTurn = (command: CompleteBotTurn, state: DecisionState): Decision<CompleteBotTurn> =>
  isOpenTurn(state, command.userMessageId) ? accept(recorded.botTurn(command, state.started)) : nothing

const failBotTurn = (command: FailBotTurn, state: DecisionState): Decision<FailBotTurn> => {
  const turn = state.openTurns.find((open) => open.userMessageId === command.userMessageId)
  return turn === undefined ? nothing : accept([recorded.botTurnFailure(command, turn.failures)])
}

/**
 * Whether a command scoped to some installations may act on the conversation: it has started, in
 * one of them. Outside the scope it looks like a conversation that never started.
 */
const startedInScope = (
  command: { readonly scope?: InstallationScope.InstallationScope },
  started: DecisionState["started"]
): started is NonNullable<DecisionState["started"]> =>
  started !== null && InstallationScope.allows(command.scope ?? "all", started.installationId)

const postBotMessage = (command: PostBotMessage, state: DecisionState): Decision<PostBotMessage> => {
  if (!startedInScope(command, state.started)) return Result.fail(new ConversationNotStarted())
  // An id still held is a repeat; one already delivered is refused by the event store's unique event id.
  if (held(state, command.message.messageId) !== undefined) return nothing
  return accept([recorded.botMessage(command, state.started)])
}

/** A bot message the state still holds: pending delivery or dead-lettered. */
const held = (state: DecisionState, id: string) =>
  state.outbox.find((message) => message.messageId === id) ??
  state.deadLetters.find((message) => message.messageId === id)

/**
 * Attempts are recorded only for the message at the head of the outbox, so order holds; an
 * attempt for any other message (one further back, dead-lettered or delivered) changes nothing.
 */
const recordDeliveryAttempt = (
  command: RecordDeliveryAttempt,
  state: DecisionState
): Decision<RecordDeliveryAttempt> => {
  const head = state.outbox[0]
  if (head === undefined || head.messageId !== command.messageId) return nothing
  return accept(recorded.attempt(command, head.attempts))
}

/**
 * Only a dead letter can be delivered again, and only in a conversation of the caller's scope
 * (outside it: `ConversationNotStarted`). A message the state no longer holds was delivered
 * (or never was this conversation's): `UnknownBotMessage`, which the front door, knowing from the
 * log that the message exists, answers as not dead-lettered.
 */
const requestRedelivery = (command: RequestRedelivery, state: DecisionState): Decision<RequestRedelivery> => {
  if (!startedInScope(command, state.started)) return Result.fail(new ConversationNotStarted())
  const message = held(state, command.messageId)
  if (message === undefined) return Result.fail(new UnknownBotMessage({ messageId: command.messageId }))
  if (message.status !== "dead_lettered") {
    return Result.fail(new NotDeadLettered({ messageId: command.messageId, status: message.status }))
  }
  return accept([recorded.redelivery(command)])
}

/**
 * A conversation records the pause once, and only when it has a delivery to hold back; a pause it
 * already recorded, or one with nothing waiting, changes nothing.
 */
const pauseDeliveries = (command: PauseDeliveries, state: DecisionState): Decision<PauseDeliveries> =>
  state.started === null || state.outbox.length === 0 || state.deliveriesPausedAt !== null
    ? nothing
    : accept([recorded.pause(command, state.started.installationId)])

/** Only a conversation that recorded a pause records its end. */
const resumeDeliveries = (command: ResumeDeliveries, state: DecisionState): Decision<ResumeDeliveries> =>
  state.deliveriesPausedAt === null ? nothing : accept([recorded.resume(command)])

/**
 * Each command's function is typed with its own rejections; the switch cannot carry that to the
 * generic result, hence the one widening here.
 */
export const decide = <C extends ConversationCommand>(command: C, state: DecisionState): Decision<C> =>
  decideAny(command, state) as Decision<C>

const decideAny = (command: ConversationCommand, state: DecisionState): Decision => {
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
    case "PauseDeliveries":
      return pauseDeliveries(command, state)
    case "ResumeDeliveries":
      return resumeDeliveries(command, state)
  }
}
