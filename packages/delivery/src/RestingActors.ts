import type { ConversationStream, Ids } from "@messaging-api/domain"
import { Clock, Duration, Effect, Schedule, type Scope } from "effect"
import { DeliverySettings } from "./DeliverySettings.ts"
import { ShardOwnership } from "./ShardOwnership.ts"

/**
 * Conversations at rest: idle for `restAfter`, a conversation leaves its effect/cluster entity
 * (about 17 KB of the cluster's own per entity) and only its decision state stays, here, until
 * `passivateAfter` from its last activity. A message or a due wake-up activates the entity again,
 * which takes the state from here instead of reading the log. So thousands of idle conversations
 * cost about 1 KB each, and one that speaks again within `passivateAfter` still starts warm.
 *
 * A resting state may be older than the log (the CLI appended a redelivery meanwhile), as a live
 * actor's may: appends check the version they were decided at, and a loop that settles on a stale
 * version reads the log again. Only a process that is the cluster's only runner rests conversations:
 * on a runner of a cluster a conversation's shard can move, and a state left behind would miss
 * what the new owner did.
 */

export interface Rest {
  readonly current: ConversationStream.LoadedDecisionState
  readonly snapshotVersion: number
  /** When it leaves memory for good (millis). */
  readonly until: number
}

export class RestingActors {
  private readonly rests = new Map<string, Rest>()
  /** How long a state rests before it leaves memory (millis). */
  readonly lifetime: number

  constructor(lifetime: number) {
    this.lifetime = lifetime
  }

  /** Keeps a conversation's state; of two, the later version stays. */
  put(
    conversationId: Ids.ConversationId,
    current: ConversationStream.LoadedDecisionState,
    snapshotVersion: number,
    now: number
  ): void {
    const previous = this.rests.get(conversationId)
    if (previous !== undefined && previous.current.version > current.version) return
    this.rests.set(conversationId, { current, snapshotVersion, until: now + this.lifetime })
  }

  /** The conversation's resting state, which leaves the map; undefined when none or expired. */
  take(conversationId: Ids.ConversationId, now: number): Rest | undefined {
    const rest = this.rests.get(conversationId)
    if (rest === undefined) return undefined
    this.rests.delete(conversationId)
    return rest.until > now ? rest : undefined
  }

  /** Drops the states whose time is up. */
  sweep(now: number): void {
    for (const [conversationId, rest] of this.rests) if (rest.until <= now) this.rests.delete(conversationId)
  }

  get size(): number {
    return this.rests.size
  }
}

/**
 * The process's resting conversations, swept while `scope` is open; undefined when conversations
 * do not rest (a runner of a cluster, or `restAfter` not shorter than `passivateAfter`).
 */
export const make: Effect.Effect<RestingActors | undefined, never, Scope.Scope> = Effect.gen(function* () {
  const settings = yield* DeliverySettings
  const restAfter = Duration.toMillis(settings.restAfter)
  const passivateAfter = Duration.toMillis(settings.passivateAfter)
  if ((yield* ShardOwnership) !== undefined || !(restAfter < passivateAfter)) return undefined
  const resting = new RestingActors(passivateAfter - restAfter)
  const every = Duration.millis(Math.max(1_000, Math.min(resting.lifetime, 30_000)))
  yield* Clock.currentTimeMillis.pipe(
    Effect.map((now) => resting.sweep(now)),
    Effect.repeat(Schedule.spaced(every)),
    Effect.forkScoped
  )
  return resting
})
