import { ConversationCommands, ConversationEvents, DecisionState, EventStore } from "@messaging-api/domain"
import { ConversationUnavailable } from "@messaging-api/domain/Conversations"
import { Schema } from "effect"
import { Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"

/**
 * The conversation actor's protocol as an effect/cluster entity, keyed by conversation id, on a
 * runner of a cluster: what the front door (`Conversations`, through `EntityActors`) sends and what
 * the actor (`ConversationActor`) answers (the handlers and their layer are in `EntityActors`; a
 * process alone calls its actors directly, `LocalActors`). The cluster runs one instance per live
 * conversation, hands it its
 * messages one at a time and passivates it after `passivateAfter` without messages. Messages are
 * volatile: the event log is the durable record, and `conversation_work` brings a conversation
 * back after a restart.
 * - `Execute`: one command (sequential); when it changed something, the actor starts its work loop.
 * - `Run`: the work loop (forked, so commands are served while it runs; while it runs the entity
 *   counts as busy and is not passivated).
 * - `Inspect`: the state the actor holds and its stream version, between two commands.
 */

export const CommandResult = Schema.Struct({
  events: Schema.Array(ConversationEvents.ConversationEvent),
  version: Schema.Int
})

export const CommandError = Schema.Union([
  ConversationCommands.DuplicateUserMessage,
  ConversationCommands.MessageIdReused,
  ConversationCommands.ConversationNotStarted,
  ConversationCommands.UnknownBotMessage,
  ConversationCommands.NotDeadLettered,
  EventStore.DuplicateEventId,
  ConversationUnavailable
])

export const Execute = Rpc.make("Execute", {
  payload: { command: ConversationCommands.ConversationCommand },
  success: CommandResult,
  error: CommandError
})

export const Run = Rpc.make("Run")

/** The actor's `DecisionState` on the wire. */
export const ConversationState = DecisionState.DecisionStateSchema

export const Inspect = Rpc.make("Inspect", {
  success: Schema.Struct({ state: ConversationState, version: Schema.Int }),
  error: ConversationUnavailable
})

export const Conversation = Entity.make("Conversation", [Execute, Run, Inspect])
