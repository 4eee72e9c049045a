import type { Conversations } from "@messaging-api/domain/Conversations"
import { Context } from "effect"

/**
 * Where the front door (`Conversations`) sends a conversation's commands: to its actor, wherever
 * that lives. `LocalActors` keeps the actors in this process (a process alone); `EntityActors`
 * reaches them through effect/cluster's conversation entity (a runner of a cluster). Both provide
 * the `WorkLoops` their actors start, and answer with the actor's own typed errors.
 */
export class Actors extends Context.Service<Actors, Pick<Conversations["Service"], "execute" | "state">>()(
  "@messaging-api/delivery/Actors"
) {}
