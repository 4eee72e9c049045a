import type { ConversationCommands, Ids } from "@messaging-api/domain"
import * as Metrics from "@messaging-api/domain/Metrics"
import { Clock, Context, Duration, Effect, Layer, Metric, Schedule } from "effect"
import { Actors } from "./Actors.ts"
import * as ConversationActor from "./ConversationActor.ts"
import { DeliverySettings } from "./DeliverySettings.ts"
import * as WorkLoops from "./WorkLoops.ts"

/**
 * The conversation actors of a process alone: each conversation's `Actor` in a map, called
 * directly. Nothing sits between the front door and the actor (no cluster entity: no message
 * envelope, mailbox or reply per command, and nothing per live conversation but its `Actor` and
 * decision state; docs/PERFORMANCE.md).
 * - An actor is made by its conversation's first command or work loop (it reads its state from the
 *   snapshot and the log when first used).
 * - It leaves memory once nothing has used it for `passivateAfter`: no command, no inspection, no
 *   running work loop. A loop ends after writing down in `conversation_work` when its conversation
 *   has work again, and the schedule brings the conversation back then.
 * - One actor per conversation: an actor in use is never swept, and a use is counted before its
 *   first step.
 */

class LocalActor extends ConversationActor.Actor {
  /** Commands, inspections and the work loop using this actor now. */
  users = 0
  /** When the last of them ended (millis). */
  lastUsed = 0
}

/** How often idle actors are looked for: a quarter of `passivateAfter`, within 10 ms–5 s. */
const sweepEvery = (passivateAfter: number) => Math.max(10, Math.min(passivateAfter / 4, 5_000))

/** `Actors` and the `WorkLoops` they start, in this process. Closing it drains the loops. */
export const layer = Layer.effectContext(
  Effect.gen(function* () {
    const settings = yield* DeliverySettings
    const clock = yield* Clock.Clock
    const passivateAfter = Duration.toMillis(settings.passivateAfter)
    const actors = new Map<string, LocalActor>()
    const counted = Metric.modify(Metrics.liveConversations, 1)

    /** `use` of the conversation's actor (made if it has none), counted as a use while it runs. */
    const using = <A, E>(
      conversationId: Ids.ConversationId,
      use: (actor: LocalActor) => Effect.Effect<A, E>
    ): Effect.Effect<A, E> =>
      Effect.uninterruptibleMask((restore) => {
        let actor = actors.get(conversationId)
        const made = actor === undefined
        if (actor === undefined) {
          actor = new LocalActor(conversationId)
          actors.set(conversationId, actor)
        }
        const used = actor
        used.users++
        const run = restore(use(used)).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              used.users--
              used.lastUsed = clock.currentTimeMillisUnsafe()
            })
          )
        )
        return made ? Effect.andThen(counted, run) : run
      })

    /** Drops the actors unused for `passivateAfter`. */
    const sweep = Effect.suspend(() => {
      const now = clock.currentTimeMillisUnsafe()
      let left = 0
      for (const [conversationId, actor] of actors) {
        if (actor.users === 0 && now - actor.lastUsed >= passivateAfter) {
          actors.delete(conversationId)
          left++
        }
      }
      return left === 0 ? Effect.void : Metric.modify(Metrics.liveConversations, -left)
    })

    // The loops run `core.run`, and the core starts loops: the one is handed the other once built.
    let core: ConversationActor.ActorCore | undefined
    const { loops, drain } = yield* WorkLoops.make((conversationId) =>
      core === undefined ? Effect.void : using(conversationId, core.run)
    )
    const built = yield* ConversationActor.make(loops)
    core = built

    yield* sweep.pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(sweepEvery(passivateAfter)))),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const left = actors.size
        actors.clear()
        return Metric.modify(Metrics.liveConversations, -left)
      })
    )
    // Added last, so on close the loops drain first.
    yield* Effect.addFinalizer(() => drain)

    return Context.make(WorkLoops.WorkLoops, loops).pipe(
      Context.add(
        Actors,
        Actors.of({
          execute: <C extends ConversationCommands.ConversationCommand>(
            conversationId: Ids.ConversationId,
            command: C
          ) => using(conversationId, (actor) => built.execute(actor, command)),
          state: (conversationId) => using(conversationId, built.inspect)
        })
      )
    )
  })
)
