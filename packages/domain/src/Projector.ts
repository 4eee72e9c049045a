import { Clock, Context, Effect, Layer, Metric, Schedule, Stream } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import * as EventLog from "./EventLog.ts"
import { EventStore, type LogPosition, logPositionOf, type RecordedEvent } from "./EventStore.ts"
import { conversationOfStream } from "./Ids.ts"
import * as ProjectionCheckpoints from "./ProjectionCheckpoints.ts"
import { projectBatch } from "./ReadModelProjection.ts"
import { hotSpan } from "./Tracing.ts"

/**
 * Keeps the read models (rm_conversations, rm_messages, rm_delivery_attempts) current from the
 * global log. Each batch of the log is applied together with the checkpoint in ONE transaction, so
 * a crash mid-batch replays the batch; a conversation's rows record the stream version they
 * reflect, so replaying changes nothing. Batches take a transaction-scoped advisory lock: several
 * projectors (processes, a `replay --rebuild-projections` beside a running server) take turns.
 */

/** The checkpoint's name in `projection_checkpoints`. */
const checkpointName = "read_models"

/** `pg_advisory_xact_lock` key: "mapi" in ASCII. */
const lockKey = 0x6d617069

export interface CatchUpResult {
  /** Events read from the log (of every stream). */
  readonly events: number
  readonly position: LogPosition
}

export interface ReadModelCounts {
  readonly conversations: number
  readonly messages: number
  readonly deliveryAttempts: number
  readonly checkpoint: LogPosition
}

export interface ProjectorOptions {
  /** Events per batch (and per transaction). */
  readonly batchSize?: number
  /** How long the follower waits for a wake-up before looking at the log again. */
  readonly pollInterval?: `${number} millis` | `${number} seconds`
  /** Once woken, or after a batch that was not full, how long it lets appends gather before reading (default 20 ms). */
  readonly coalesce?: `${number} millis`
  /** Events per page of a rebuild's pass over the log in stream order (default 5,000). */
  readonly rebuildPageSize?: number
}

export class Projector extends Context.Service<
  Projector,
  {
    /** Where the read models stand in the global log. */
    readonly checkpoint: Effect.Effect<LogPosition, SqlError.SqlError>
    /** Applies the log from the checkpoint up to the xid horizon, then returns. */
    readonly catchUp: Effect.Effect<CatchUpResult, SqlError.SqlError>
    /**
     * Empties the read models and projects the whole log again, in one transaction (readers see
     * the old rows until it commits): stream by stream up to the log's head, then in the log's
     * order from there; then catches up with what arrived meanwhile.
     */
    readonly rebuild: Effect.Effect<ReadModelCounts, SqlError.SqlError>
    readonly counts: Effect.Effect<ReadModelCounts, SqlError.SqlError>
    /** Follows the log from the checkpoint forever (LISTEN/NOTIFY wake-ups, polling fallback). */
    readonly follow: Effect.Effect<never, SqlError.SqlError>
  }
>()("@messaging-api/domain/Projector") {
  /** The projector alone: nothing runs until `catchUp`, `rebuild` or `follow` is called. */
  static readonly layer = Layer.effect(Projector, make())

  /** The projector alone, with its batches and pages sized by `options`. */
  static readonly layerWith = (options: ProjectorOptions) => Layer.effect(Projector, make(options))

  /** The projector with a background fiber following the log for as long as the layer lives. */
  static readonly layerFollowing = (options?: ProjectorOptions) =>
    Layer.effect(
      Projector,
      Effect.gen(function* () {
        const projector = yield* make(options)
        yield* Effect.forkScoped(keepFollowing(projector))
        return projector
      })
    )
}

/**
 * Follows the log for as long as it runs, starting again from the checkpoint after a failure: what
 * `layerFollowing` forks, and what a cluster runs as its one read-model follower (a singleton).
 */
export const keepFollowing = (projector: Projector["Service"]): Effect.Effect<never> =>
  projector.follow.pipe(
    Effect.tapError((error) =>
      Effect.logWarning("read models: following the log failed; starting again from the checkpoint", error)
    ),
    Effect.retry(Schedule.spaced("1 second")),
    Effect.orDie
  )

/** How far the read models trail the newest event they applied, in milliseconds. */
const lagMetric = Metric.gauge("messaging_api_read_model_lag_ms", {
  description: "Milliseconds between an event being recorded and the read models applying it"
})

function make(options?: ProjectorOptions) {
  return Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const store = yield* EventStore
    const batchSize = options?.batchSize ?? 500
    const rebuildPageSize = options?.rebuildPageSize ?? 5_000

    const checkpoint = ProjectionCheckpoints.read(sql, checkpointName)
    const saveCheckpoint = (position: LogPosition) =>
      ProjectionCheckpoints.save(sql, checkpointName, position)

    /**
     * The projector's lock, and for the rest of the transaction key lookups only: a batch reads and
     * writes its rows by primary key, a few dozen among thousands to millions, but on the young
     * statistics of tables that grew since they were last analyzed (a new database, the first
     * minutes after a burst) the planner prices a sequential scan of each whole table cheaper than
     * a hundred index probes, and every batch scanned rm_conversations, rm_messages and
     * rm_delivery_attempts (seen with auto_explain; docs/PERFORMANCE.md).
     */
    const lock = sql`
      SELECT pg_advisory_xact_lock(${lockKey}),
             set_config('enable_seqscan', 'off', true),
             set_config('enable_hashjoin', 'off', true),
             set_config('enable_mergejoin', 'off', true)
    `

    /**
     * A batch's events by conversation, each conversation's share up to the highest version it
     * holds (in a batch of the log, what the log has shown of it; in a page of a rebuild's pass in
     * stream order, a run of its versions).
     */
    const byConversation = (batch: ReadonlyArray<RecordedEvent>) => {
      const grouped = new Map<string, Array<RecordedEvent>>()
      for (const event of batch) {
        const conversationId = conversationOfStream(event.streamId)
        if (conversationId === undefined) continue
        const events = grouped.get(conversationId)
        if (events === undefined) grouped.set(conversationId, [event])
        else events.push(event)
      }
      // The highest version by a loop: a rebuild's page can hold thousands of one stream's events,
      // more than a spread passes as arguments once pages are made large.
      return Array.from(grouped, ([conversationId, known]) => {
        let upTo = 0
        for (const event of known) if (event.version > upTo) upTo = event.version
        return { conversationId, upTo, known }
      })
    }

    const applyBatch = (batch: ReadonlyArray<RecordedEvent>) => {
      const last = batch[batch.length - 1]
      if (last === undefined) return Effect.void
      return Effect.gen(function* () {
        yield* lock
        yield* projectBatch(sql, store, byConversation(batch))
        yield* saveCheckpoint(logPositionOf(last))
      }).pipe(
        sql.withTransaction,
        Effect.andThen(Clock.currentTimeMillis),
        Effect.flatMap((now) => Metric.update(lagMetric, Math.max(0, now - last.recordedAt.getTime()))),
        hotSpan("Projector.applyBatch", { attributes: { events: batch.length } })
      )
    }

    const catchUp = Effect.gen(function* () {
      const from = yield* checkpoint
      let events = 0
      let position = from
      yield* store.readAll(from, batchSize).pipe(
        Stream.runForEachArray((batch) =>
          applyBatch(batch).pipe(
            Effect.tap(() =>
              Effect.sync(() => {
                events += batch.length
                position = logPositionOf(batch[batch.length - 1]!)
              })
            )
          )
        )
      )
      return { events, position }
    }).pipe(Effect.withSpan("Projector.catchUp"))

    const counts = Effect.gen(function* () {
      const [row] = yield* sql<{ conversations: number; messages: number; attempts: number }>`
        SELECT (SELECT count(*) FROM rm_conversations)::int AS conversations,
               (SELECT count(*) FROM rm_messages)::int AS messages,
               (SELECT count(*) FROM rm_delivery_attempts)::int AS attempts
      `
      return {
        conversations: row?.conversations ?? 0,
        messages: row?.messages ?? 0,
        deliveryAttempts: row?.attempts ?? 0,
        checkpoint: yield* checkpoint
      }
    })

    /**
     * A rebuild's first pass: every conversation brought up to the log's head as the pass begins,
     * one stream after another (pages of `rebuildPageSize` events in stream order), and the checkpoint
     * set at that head, so that `catchUp` goes on from there in the log's order. The log interleaves
     * conversations, so following it writes a conversation's row once for every batch that touches
     * it (a million updates for a million-event log of 10,000 conversations, inside the rebuild's
     * one transaction: 155 s); stream by stream, once for every page it spans (32 s).
     */
    const projectByStream = Effect.gen(function* () {
      const upTo = yield* store.head
      const reads = EventLog.make(sql)
      let after = { streamId: "", version: 0 }
      while (true) {
        const page = yield* reads.readByStream(after, upTo, rebuildPageSize)
        const last = page[page.length - 1]
        if (last === undefined) break
        yield* projectBatch(sql, store, byConversation(page))
        after = { streamId: last.streamId, version: last.version }
        if (page.length < rebuildPageSize) break
      }
      yield* saveCheckpoint(upTo)
    }).pipe(Effect.withSpan("Projector.projectByStream"))

    const rebuild = Effect.gen(function* () {
      yield* Effect.gen(function* () {
        // A rebuild takes as long as the log is long: DATABASE_STATEMENT_TIMEOUT does not apply.
        yield* sql`SET LOCAL statement_timeout = 0`
        yield* lock
        yield* sql`DELETE FROM rm_delivery_attempts`
        yield* sql`DELETE FROM rm_messages`
        yield* sql`DELETE FROM rm_conversations`
        yield* sql`DELETE FROM projection_checkpoints WHERE name = ${checkpointName}`
        yield* projectByStream
        yield* catchUp
      }).pipe(sql.withTransaction)
      yield* catchUp
      return yield* counts
    }).pipe(Effect.withSpan("Projector.rebuild"))

    const follow = Effect.gen(function* () {
      const from = yield* checkpoint
      yield* Effect.logDebug("read models: following the log", from)
      return yield* store
        .subscribe(from, {
          batchSize,
          coalesce: options?.coalesce ?? "20 millis",
          ...(options?.pollInterval === undefined ? {} : { pollInterval: options.pollInterval })
        })
        .pipe(Stream.runForEachArray(applyBatch), Effect.andThen(Effect.never))
    })

    return Projector.of({ checkpoint, catchUp, rebuild, counts, follow })
  })
}
