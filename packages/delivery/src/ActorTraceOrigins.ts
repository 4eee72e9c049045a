import { continuingTrace } from "@messaging-api/domain/Tracing"
import { type Effect, Option, type Tracer } from "effect"
import type { CommandResult } from "./ConversationWriter.ts"

/**
 * Which trace each piece of a conversation actor's work continues. The loop runs in a fiber of its
 * own, so each piece of work is put back into the trace of what caused it: the span a command
 * arrives under (the webhook request's; on a runner of a cluster, carried with the entity message) becomes
 * the parent of the bot turn it opens, and the bot turn's span the parent of every delivery
 * attempt of its replies (a message posted by the bot: the span of that request). These origins
 * are kept while the actor lives; work resumed after a restart starts traces of its own.
 */

/**
 * The span each open bot turn (by user message id) and each pending bot message (by id) continues.
 * One per live conversation: the map exists only while some work is open, so an idle
 * conversation holds an empty object (its methods are the class's, not closures of its own).
 */
export class TraceOrigins {
  private origins: Map<string, Tracer.AnySpan> | undefined = undefined

  /** Notes the span the events of one command continue, and forgets the work they finish. */
  remember(result: CommandResult, origin: Option.Option<Tracer.AnySpan>): void {
    for (const event of result.events) {
      switch (event._tag) {
        case "UserMessageReceived":
        case "BotMessageEmitted":
          if (Option.isSome(origin)) {
            if (this.origins === undefined) this.origins = new Map()
            this.origins.set(event.messageId, origin.value)
          }
          break
        case "BotTurnCompleted":
          this.forget(event.userMessageId)
          break
        case "BotTurnFailed":
          if (event.retryAt === null) this.forget(event.userMessageId)
          break
        case "MessageDelivered":
        case "MessageDeadLettered":
          this.forget(event.messageId)
          break
      }
    }
  }

  /** Runs `effect` (a span of the loop) in the trace of the work it continues, if known. */
  continuing<A, E, R>(id: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    const origin = this.origins?.get(id)
    return origin === undefined ? effect : continuingTrace(effect, origin)
  }

  private forget(id: string): void {
    if (this.origins === undefined) return
    this.origins.delete(id)
    if (this.origins.size === 0) this.origins = undefined
  }
}

export const make = (): TraceOrigins => new TraceOrigins()
