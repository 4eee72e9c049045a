import type { ConversationId } from "@messaging-api/domain/Ids"
import { Effect, PubSub } from "effect"
import { DeliverySettings } from "./DeliverySettings.ts"
import { Draining } from "./Draining.ts"
import { ShardOwnership } from "./ShardOwnership.ts"
import { WorkIndex } from "./WorkIndex.ts"

/**
 * The durable schedule's clock: it looks in `conversation_work` for conversations whose work has
 * come due (at start this is the recovery sweep) and starts their work loops. It looks again
 * after `pollInterval`, or at once when the projector added hints. Conversations whose loop is
 * already running are left out of the query, so a busy conversation never starves the others.
 * As a runner of a cluster it looks only at the shards it holds at the time of each look: when a
 * runner stops or dies, the new owner of its shards finds their pending work on its next look.
 */

const BATCH = 500

export const run = (options: {
  readonly start: (conversationId: ConversationId) => Effect.Effect<void>
  readonly busy: () => ReadonlyArray<string>
}) =>
  Effect.gen(function* () {
    const index = yield* WorkIndex
    const settings = yield* DeliverySettings
    const draining = yield* Draining
    const ownership = yield* ShardOwnership
    const hinted = yield* index.watch
    while (!draining.isDraining()) {
      // The look below sees every hint committed so far; only later ones should cut the sleep short.
      yield* PubSub.takeUpTo(hinted, 1)
      const due = yield* index
        .due({
          limit: BATCH,
          excluding: options.busy(),
          installations:
            settings.onlyInstallations === undefined ? undefined : [...settings.onlyInstallations],
          shards:
            ownership === undefined
              ? undefined
              : { shardsPerGroup: ownership.shardsPerGroup, owned: ownership.owned() }
        })
        .pipe(
          Effect.catch((error) =>
            Effect.logWarning("work schedule cannot read conversation_work", error).pipe(
              Effect.as([] as ReadonlyArray<ConversationId>)
            )
          )
        )
      yield* Effect.forEach(due, options.start, { discard: true })
      if (due.length < BATCH) {
        yield* Effect.sleep(settings.pollInterval).pipe(
          Effect.raceFirst(PubSub.take(hinted)),
          Effect.raceFirst(draining.started)
        )
      }
    }
  }).pipe(Effect.scoped, Effect.withSpan("WorkScheduler.run"))
