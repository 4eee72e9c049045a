import type { Ids } from "@messaging-api/domain"
import { continuingTrace } from "@messaging-api/domain/Tracing"
import { Context, Effect, FiberSet, Option, Tracer } from "effect"
import { DeliverySettings } from "./DeliverySettings.ts"
import { Draining } from "./Draining.ts"

/**
 * The work loops this process has asked conversations to run. A loop runs where its conversation
 * lives (this process alone, or the runner owning its shard), and that process starts it itself:
 * the conversation's actor after a command that changed something, the work schedule for a
 * conversation whose work has come due. So the loops a process waits for on shutdown are its own.
 * Closing drains: no new attempts, in-flight ones get `drainTimeout`, then they are interrupted
 * (and resumed by whichever process owns the conversation next). Whoever keeps the actors
 * provides it (`LocalActors`, `EntityActors`).
 */
export class WorkLoops extends Context.Service<
  WorkLoops,
  {
    /** Asks the conversation's actor to run its work loop (a no-op when it already runs). */
    start(conversationId: Ids.ConversationId): Effect.Effect<void>
    /** Conversations whose loop this process has asked for and which have not ended yet. */
    busy(): ReadonlyArray<string>
  }
>()("@messaging-api/delivery/WorkLoops") {}

/**
 * Loops that `run` starts (it resolves when the loop ends), and `drain`: the owner of the loops'
 * entities runs it on close before the entities are stopped.
 */
export const make = Effect.fnUntraced(function* (
  run: (conversationId: Ids.ConversationId) => Effect.Effect<void, unknown>
) {
  const draining = yield* Draining
  const settings = yield* DeliverySettings

  const runs = yield* FiberSet.make<void, never>()
  // Loops are forked in the context this was built in, not in the caller's: a loop started by a
  // command would otherwise keep that command's HTTP request (and its body) for as long as it runs.
  const fork = yield* FiberSet.runtime(runs)<never>()
  const busy = new Map<string, number>()
  const release = (id: string) =>
    Effect.sync(() => {
      const count = (busy.get(id) ?? 1) - 1
      if (count === 0) busy.delete(id)
      else busy.set(id, count)
    })

  const start = (conversationId: Ids.ConversationId): Effect.Effect<void> =>
    Effect.flatMap(Effect.serviceOption(Tracer.ParentSpan), (parent) =>
      Effect.sync(() => {
        if (draining.isDraining()) return
        busy.set(conversationId, (busy.get(conversationId) ?? 0) + 1)
        const loop = run(conversationId).pipe(
          Effect.catchCause((cause) =>
            Effect.logWarning("could not start a conversation's work loop", cause).pipe(
              Effect.annotateLogs({ conversationId })
            )
          ),
          Effect.ensuring(release(conversationId))
        )
        // The loop's span stays in the trace of what started it (only the span is kept).
        fork(Option.isSome(parent) ? continuingTrace(loop, parent.value) : loop)
      })
    )

  /** Stop starting attempts, wait for the ones in flight (bounded), then interrupt what is left. */
  const drain = draining.start.pipe(
    Effect.andThen(FiberSet.awaitEmpty(runs).pipe(Effect.timeoutOption(settings.drainTimeout))),
    Effect.andThen(FiberSet.clear(runs)),
    Effect.andThen(Effect.logInfo("delivery drained"))
  )

  return { loops: WorkLoops.of({ start, busy: () => [...busy.keys()] }), drain }
})
