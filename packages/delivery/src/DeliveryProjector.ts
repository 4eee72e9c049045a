import {
  type ConversationEvents,
  ConversationOwners,
  ConversationStream,
  EventStore,
  Ids,
  ProjectionCheckpoints
} from "@messaging-api/domain"
import { Effect, Layer, Option, Result, Schedule, Stream } from "effect"
import { Sharding } from "effect/cluster"
import { SqlClient, type SqlError } from "effect/sql"
import { ShardOwnership } from "./ShardOwnership.ts"
import { type WorkHint, WorkIndex } from "./WorkIndex.ts"

/**
 * Follows the global log from its checkpoint and keeps `conversation_work` in step with it, in
 * one transaction per batch together with the checkpoint: a hint for every event that creates
 * work (a user message → a bot turn; a bot message or a redelivery → a delivery; a failure → the
 * time of its retry), so that after a restart every conversation with pending work is found
 * without reading the whole log, and work appended by another process (a redelivery from the CLI)
 * is picked up by the one running the actors. Rows carry stream versions, so two projectors (two
 * processes) never move a row backwards. Where deliveries stand is the domain's read models'
 * business (`rm_messages`, see `Deliveries`).
 * As a runner of a cluster it runs as a cluster singleton: one follower for all the runners, moved
 * with its shard when its runner stops or dies.
 */

export const CHECKPOINT = "delivery"

/** The cluster singleton's name. */
export const CHECKPOINT_SINGLETON = "delivery-projector"

interface Decoded {
  readonly conversationId: Ids.ConversationId
  readonly version: number
  readonly recordedAt: string
  readonly event: ConversationEvents.ConversationEvent
}

/**
 * The event types the projector reads: those that create work (`dueOf`), and the start that names a
 * conversation's owner. The others (a turn completed, a message delivered or dead-lettered, deliveries
 * paused) only finish or hold work, so they are not decoded at all.
 */
const readTypes: ReadonlySet<string> = new Set<ConversationEvents.ConversationEventType>([
  "ConversationStarted",
  "UserMessageReceived",
  "BotMessageEmitted",
  "RedeliveryRequested",
  "DeliveriesResumed",
  "DeliveryAttemptFailed",
  "BotTurnFailed"
])

/** When the work an event creates may be due, or undefined when it only finishes work. */
const dueOf = (decoded: Decoded): string | undefined => {
  const event = decoded.event
  switch (event._tag) {
    case "UserMessageReceived":
    case "BotMessageEmitted":
    case "RedeliveryRequested":
    case "DeliveriesResumed":
      return decoded.recordedAt
    case "DeliveryAttemptFailed":
      return event.nextAttemptAt
    case "BotTurnFailed":
      return event.retryAt ?? undefined
    default:
      return undefined
  }
}

export const layer = Layer.effectDiscard(
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const index = yield* WorkIndex
    const owners = yield* ConversationOwners.ConversationOwners

    const readCheckpoint = ProjectionCheckpoints.read(sql, CHECKPOINT)

    const apply = Effect.fnUntraced(function* (batch: ReadonlyArray<EventStore.RecordedEvent>) {
      const last = batch[batch.length - 1]
      if (last === undefined) return
      // A synchronous decode per event it reads (the follower reads every event of the log); the
      // ones it cannot read are logged after the loop, so a batch of good events yields nothing for them.
      const decoded: Array<Decoded> = []
      const undecodable: Array<ConversationStream.EventDecodeError> = []
      for (const recorded of batch) {
        if (!readTypes.has(recorded.type)) continue
        const conversationId = Ids.conversationOfStream(recorded.streamId)
        if (conversationId === undefined) continue
        const event = ConversationStream.decodeRecorded(recorded)
        if (Result.isSuccess(event)) {
          // A conversation started in this batch names its owner itself; the others are looked up.
          if (event.success._tag === "ConversationStarted") owners.started(event.success)
          decoded.push({
            conversationId,
            version: recorded.version,
            recordedAt: recorded.recordedAt.toISOString(),
            event: event.success
          })
        } else {
          undecodable.push(event.failure)
        }
      }
      for (const error of undecodable) {
        yield* Effect.logWarning("delivery projector skips an event it cannot read", error)
      }

      const hints = new Map<Ids.ConversationId, WorkHint>()
      for (const item of decoded) {
        const due = dueOf(item)
        if (due === undefined) continue
        const previous = hints.get(item.conversationId)
        hints.set(item.conversationId, {
          conversationId: item.conversationId,
          installationId: null,
          dueAt: previous === undefined || due < previous.dueAt ? due : previous.dueAt,
          version: item.version
        })
      }
      // Work this process's actors have already settled needs no hint (most of it, under load).
      const unsettled = [...hints].filter(([, hint]) => !index.settled(hint))
      if (unsettled.length === 0) {
        yield* ProjectionCheckpoints.save(sql, CHECKPOINT, last)
        return
      }
      const installations = yield* owners.ownersOf(unsettled.map(([conversationId]) => conversationId))
      yield* sql.withTransaction(
        Effect.gen(function* () {
          yield* index.hint(
            unsettled.map(([conversationId, hint]) => ({
              ...hint,
              installationId: installations.get(conversationId) ?? null
            }))
          )
          yield* ProjectionCheckpoints.save(sql, CHECKPOINT, last)
        })
      )
      yield* index.notify
    })

    const follow: Effect.Effect<void, SqlError.SqlError> = Effect.gen(function* () {
      const from = yield* readCheckpoint
      // Hints matter for recovery and retries, not for a live conversation (its actor is already
      // running): read the log a quarter of a second at a time, by when most of its conversations'
      // actors have settled (and their hints are skipped), and write the rest together.
      yield* store
        .subscribe(from, { batchSize: 500, coalesce: "250 millis" })
        .pipe(Stream.runForEachArray(apply))
    })

    const keepFollowing = follow.pipe(
      Effect.tapCause((cause) => Effect.logWarning("delivery projector stopped; restarting", cause)),
      Effect.retry(Schedule.spaced("1 second"))
    )
    // On a runner of a cluster, one runner at a time follows (a cluster singleton).
    const cluster = yield* Effect.serviceOption(Sharding.Sharding)
    if ((yield* ShardOwnership) === undefined || Option.isNone(cluster)) {
      yield* Effect.forkScoped(keepFollowing)
    } else {
      yield* cluster.value.registerSingleton(CHECKPOINT_SINGLETON, keepFollowing)
    }
  })
).pipe(Layer.provide(ConversationOwners.ConversationOwners.layer))
