import { Effect, Option, type Tracer } from "effect"
import type { CommandResult } from "./ConversationWriter.ts"

/**
 * Which trace each piece of a conversation actor's work continues. The loop runs in a fiber of its
 * own, so each piece of work is put back into the trace of what caused it: the span a command
 * arrives under (the webhook request's, carried by the cluster with the entity message) becomes
 * the parent of the bot turn it opens, and the bot turn's span the parent of every delivery
 * attempt of its replies (a message posted by the bot: the span of that request). These origins
 * are kept while the actor lives; work resumed after a restart starts traces of its own.
 */

export interface TraceOrigins {
  /** Notes the span the events of one command continue, and forgets the work they finish. */
  readonly remember: (result: CommandResult, origin: Option.Option<Tracer.AnySpan>) => void
  /** Runs `effect` (a span of the loop) in the trace of the work it continues, if known. */
  readonly continuing: <A, E, R>(id: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * `withParentSpan` captures a stack trace (an `Error`) per call for the stack frame it adds, unless
 * told not to; this runs for every bot turn and every delivery (docs/PERFORMANCE.md).
 */
const noStackTrace = { captureStackTrace: false } as const

export const make = (): TraceOrigins => {
  /** The span each open bot turn (by user message id) and each pending bot message (by id) continues. */
  const origins = new Map<string, Tracer.AnySpan>()
  return {
    remember: (result, origin) => {
      for (const event of result.events) {
        switch (event._tag) {
          case "UserMessageReceived":
          case "BotMessageEmitted":
            if (Option.isSome(origin)) origins.set(event.messageId, origin.value)
            break
          case "BotTurnCompleted":
            origins.delete(event.userMessageId)
            break
          case "BotTurnFailed":
            if (event.retryAt === null) origins.delete(event.userMessageId)
            break
          case "MessageDelivered":
          case "MessageDeadLettered":
            origins.delete(event.messageId)
            break
        }
      }
    },
    continuing: (id, effect) => {
      const origin = origins.get(id)
      return origin === undefined ? effect : Effect.withParentSpan(effect, origin, noStackTrace)
    }
  }
}
