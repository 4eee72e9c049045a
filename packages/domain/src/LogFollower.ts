import type { PgClient } from "@effect/sql-pg"
import { Clock, Duration, Effect, Option, PubSub, Queue, type Scope, Stream } from "effect"
import type { SqlClient, SqlError } from "effect/sql"
import {
  type EventRow,
  eventColumns,
  type LogPosition,
  logPositionOf,
  type RecordedEvent,
  toRecorded
} from "./EventLog.ts"

/**
 * Following the global log forever (`EventStore.subscribe`): a follower reads below the xid
 * horizon, and when it has caught up waits for a wake-up (an append of this process, a NOTIFY of
 * another's, or the poll interval). With a stall bound it also reads past a transaction that has
 * held the horizon too long (`followPast`).
 */

export interface SubscribeOptions {
  /** How long to wait for a wake-up before looking again anyway. */
  readonly pollInterval?: Duration.Input
  readonly batchSize?: number
  /**
   * How long to let appends gather before reading: once woken, and after a read that found fewer
   * events than a batch holds (under a steady load the log always has a few new events, and a
   * follower that read again at once would spend its time on round trips of a few events each). A
   * full batch is followed by the next read at once. (With `stallBound` it waits only after a read
   * that found nothing.) Default none.
   */
  readonly coalesce?: Duration.Input
  /**
   * Bounds the stall a long transaction causes: once the oldest open transaction has held the xid
   * horizon this long, the follower also reads the committed events past it, remembers the
   * transactions still open below what it read, and reads their events once they end. Every event
   * still comes exactly once, but no longer in the log's order: only followers that need no global
   * order may ask for it (`LOG_STALL_BOUND` is the bound the live streams use). Without it the
   * follower waits for the horizon.
   */
  readonly stallBound?: Duration.Input
}

/**
 * How long a live follower waits behind a transaction that holds the xid horizon before it reads
 * the events committed past it (`SubscribeOptions.stallBound`).
 */
export const LOG_STALL_BOUND: Duration.Input = "1 second"

export const NOTIFY_CHANNEL = "messaging_api_events"

/**
 * At most one NOTIFY this often: other processes' followers need to hear that something was
 * appended, not of every group commit, and each NOTIFY is a statement and a transaction of its own
 * (at 500 msgs/s one was sent after nearly every commit, about 0.8 a message). The last append
 * always gets one: one that comes in the pause is notified when it ends.
 */
const NOTIFY_EVERY: Duration.Input = "20 millis"

/** A row of a look at the log: the snapshot's facts, and an event or (none found) nulls. */
interface SnapshotRow extends EventRow {
  readonly horizon: string
  readonly open: string
}

interface EndedRow extends EventRow {
  readonly ended: string
}

const splitIds = (list: string | undefined): ReadonlyArray<number> =>
  list === undefined || list === "" ? [] : list.split(",").map(Number)

export interface LogFollower {
  /** Tells the followers (here at once, other processes by NOTIFY) that events were committed. */
  readonly appended: Effect.Effect<void>
  subscribe(from: LogPosition, options?: SubscribeOptions): Stream.Stream<RecordedEvent, SqlError.SqlError>
}

/**
 * Starts listening for wake-ups (for as long as the scope lives). `readBatch` is the read below
 * the horizon (`EventLog.make`).
 */
export const make = Effect.fnUntraced(function* (
  sql: SqlClient.SqlClient,
  pg: PgClient.PgClient,
  readBatch: (from: LogPosition, limit: number) => Effect.Effect<Array<RecordedEvent>, SqlError.SqlError>
): Effect.fn.Return<LogFollower, never, Scope.Scope> {
  const columns = eventColumns(sql)

  // Wake-ups: local appends publish here directly; other processes' appends arrive by NOTIFY. The
  // NOTIFY is a statement of its own, not part of the append's: a transaction that notifies holds
  // Postgres's notify lock until its commit is flushed, which would make every append commit in turn.
  const wakeups = yield* PubSub.sliding<void>(1)
  const toNotify = yield* Queue.sliding<void>(1)
  yield* Queue.take(toNotify).pipe(
    Effect.flatMap(() => pg.notify(NOTIFY_CHANNEL, "")),
    // One that failed is sent again after the pause: it stood for every append of its window.
    Effect.catch((error) =>
      Effect.andThen(Effect.logDebug("event-store notify failed", error), Queue.offer(toNotify, undefined))
    ),
    Effect.andThen(Effect.sleep(NOTIFY_EVERY)),
    Effect.forever,
    Effect.forkScoped
  )
  yield* Effect.scoped(
    Effect.gen(function* () {
      const notifications = yield* pg.listen(NOTIFY_CHANNEL)
      yield* Queue.take(notifications).pipe(
        Effect.flatMap(() => PubSub.publish(wakeups, undefined)),
        Effect.forever
      )
    })
  ).pipe(
    Effect.catch((error) => Effect.logWarning("event-store LISTEN lost; polling until it returns", error)),
    Effect.andThen(Effect.sleep("1 second")),
    Effect.forever,
    Effect.forkScoped
  )
  const appended = Effect.andThen(PubSub.publish(wakeups, undefined), Queue.offer(toNotify, undefined))

  /**
   * One look at the log in one snapshot: the horizon, the transactions open in it, and the events
   * after `from` — below the horizon, or (`past`) every committed one.
   */
  const readPast = (from: LogPosition, limit: number, past: boolean) =>
    sql<SnapshotRow>`
      WITH snapshot AS MATERIALIZED (SELECT pg_current_snapshot() AS s)
      SELECT pg_snapshot_xmin(snapshot.s)::text AS horizon,
             array_to_string(ARRAY(SELECT x::text FROM pg_snapshot_xip(snapshot.s) AS x), ',') AS open,
             e.*
      FROM snapshot LEFT JOIN LATERAL (
        SELECT ${columns} FROM events
        WHERE (transaction_id, position) > (${String(from.transactionId)}::xid8, ${from.position})
          AND ${past ? sql`TRUE` : sql`transaction_id < pg_snapshot_xmin(snapshot.s)`}
        ORDER BY events.transaction_id, events.position
        LIMIT ${limit}
      ) e ON TRUE
    `.pipe(
      Effect.map((rows) => ({
        horizon: Number(rows[0]?.horizon ?? 0),
        open: splitIds(rows[0]?.open),
        events: rows.filter((row) => row.position !== null).map(toRecorded)
      }))
    )

  /** Of the remembered transactions, those no longer open in this snapshot, with their events (none if aborted). */
  const readEnded = (remembered: ReadonlyArray<number>) =>
    sql<EndedRow>`
      WITH snapshot AS MATERIALIZED (SELECT pg_current_snapshot() AS s), ended AS MATERIALIZED (
        SELECT x FROM snapshot, unnest(${`{${remembered.join(",")}}`}::xid8[]) AS x
        WHERE pg_visible_in_snapshot(x, snapshot.s)
      )
      SELECT array_to_string(ARRAY(SELECT x::text FROM ended), ',') AS ended, e.*
      FROM (SELECT 1) AS one LEFT JOIN LATERAL (
        SELECT ${columns} FROM events WHERE transaction_id IN (SELECT x FROM ended)
        ORDER BY events.transaction_id, events.position
      ) e ON TRUE
    `.pipe(
      Effect.map((rows) => ({
        ended: splitIds(rows[0]?.ended),
        events: rows.filter((row) => row.position !== null).map(toRecorded)
      }))
    )

  /**
   * A follower that reads past a horizon held for `stallBound` ms. It reads below the horizon as
   * any other until the same transaction has held the horizon that long (or until it has already
   * read past it); then it reads every committed event after its position, and remembers the
   * transactions that were open below the last one it read: their events cannot be after its
   * position any more, so each later look asks for the events of those that have ended since,
   * emits them and forgets them. An event is read either by position or as a remembered
   * transaction's, never both, so nothing comes twice and nothing is skipped.
   */
  const followPast = (
    from: LogPosition,
    batchSize: number,
    stallBound: number,
    waitForMore: Effect.Effect<void>
  ): Stream.Stream<RecordedEvent, SqlError.SqlError> => {
    interface State {
      readonly position: LogPosition
      /** Transactions open below `position` when it was read. */
      readonly remembered: ReadonlySet<number>
      readonly horizon: number
      /** Since when (ms) the horizon has been held by an open transaction; undefined: it is not. */
      readonly heldSince: number | undefined
    }
    const look = Effect.fnUntraced(function* (state: State) {
      let remembered = state.remembered
      const late: Array<RecordedEvent> = []
      if (remembered.size > 0) {
        const ended = yield* readEnded([...remembered])
        late.push(...ended.events)
        if (ended.ended.length > 0) {
          const next = new Set(remembered)
          for (const id of ended.ended) next.delete(id)
          remembered = next
        }
      }
      const now = yield* Clock.currentTimeMillis
      const past =
        state.position.transactionId >= state.horizon ||
        (state.heldSince !== undefined && now - state.heldSince >= stallBound)
      const read = yield* readPast(state.position, batchSize, past)
      const last = read.events[read.events.length - 1]
      if (last !== undefined) {
        const below = read.open.filter((id) => id < last.transactionId && !remembered.has(id))
        if (below.length > 0) remembered = new Set([...remembered, ...below])
      }
      const heldSince =
        read.open.length === 0
          ? undefined
          : read.horizon === state.horizon && state.heldSince !== undefined
            ? state.heldSince
            : now
      if (late.length === 0 && read.events.length === 0) yield* waitForMore
      const next: State = {
        position: last === undefined ? state.position : logPositionOf(last),
        remembered,
        horizon: read.horizon,
        heldSince
      }
      return [[...late, ...read.events], Option.some(next)] as const
    })
    return Stream.paginate<State, RecordedEvent, SqlError.SqlError, never>(
      { position: from, remembered: new Set(), horizon: Number.POSITIVE_INFINITY, heldSince: undefined },
      look
    )
  }

  const subscribe = (from: LogPosition, options?: SubscribeOptions) => {
    const pollInterval = Duration.fromInputUnsafe(options?.pollInterval ?? "500 millis")
    const batchSize = options?.batchSize ?? 1000
    const stallBound =
      options?.stallBound === undefined
        ? undefined
        : Duration.toMillis(Duration.fromInputUnsafe(options.stallBound))
    return Stream.unwrap(
      Effect.gen(function* () {
        const wake = yield* PubSub.subscribe(wakeups)
        const coalesce =
          options?.coalesce === undefined ? undefined : Duration.fromInputUnsafe(options.coalesce)
        const woken = PubSub.take(wake).pipe(Effect.timeoutOption(pollInterval), Effect.asVoid)
        const waitForMore = coalesce === undefined ? woken : Effect.andThen(woken, Effect.sleep(coalesce))
        if (stallBound !== undefined) return followPast(from, batchSize, stallBound, waitForMore)
        /** Where to read next, and whether the last read found fewer events than a batch holds. */
        interface Cursor {
          readonly position: LogPosition
          readonly partial: boolean
        }
        return Stream.paginate<Cursor, RecordedEvent, SqlError.SqlError, never>(
          { position: from, partial: false },
          ({ position, partial }) =>
            (partial && coalesce !== undefined
              ? Effect.andThen(Effect.sleep(coalesce), readBatch(position, batchSize))
              : readBatch(position, batchSize)
            ).pipe(
              Effect.tap((events) => (events.length === 0 ? waitForMore : Effect.void)),
              Effect.map((events) => {
                const last = events[events.length - 1]
                const next: Cursor = {
                  position: last ? logPositionOf(last) : position,
                  partial: events.length > 0 && events.length < batchSize
                }
                return [events, Option.some(next)] as const
              })
            )
        )
      })
    )
  }

  return { appended, subscribe }
})
