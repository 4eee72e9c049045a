import { Effect, Option, Schema, Stream } from "effect"
import type { SqlClient, SqlError } from "effect/sql"

/**
 * Reading the `events` table: the recorded event and its place in the global log, one stream in
 * order, events by id, and the global log up to the xid horizon. `EventStore.layer` serves these
 * reads; the follower of the log (`LogFollower.ts`) reads with the same row mapping.
 */

/**
 * A place in the global log. The log is ordered by (writing transaction, position): a reader
 * only takes rows whose transaction is older than every open one, so once it has passed a
 * transaction id no row with a lower one can still appear.
 */
export const LogPosition = Schema.Struct({ transactionId: Schema.Finite, position: Schema.Finite })
export type LogPosition = typeof LogPosition.Type
export const logStart: LogPosition = { transactionId: 0, position: 0 }

/** A log position as SQL reads it (`transaction_id::text, position::text`: an xid8 overflows int4). */
export interface LogPositionRow {
  readonly transaction_id: string
  readonly position: string
}

/** The position in the first row, or the start of the log when there is none. */
export const firstLogPosition = (rows: ReadonlyArray<LogPositionRow>): LogPosition =>
  rows[0] === undefined
    ? logStart
    : { transactionId: Number(rows[0].transaction_id), position: Number(rows[0].position) }

export interface RecordedEvent {
  readonly position: number
  readonly transactionId: number
  readonly streamId: string
  readonly version: number
  readonly eventId: string
  readonly type: string
  readonly data: unknown
  readonly metadata: Readonly<Record<string, unknown>>
  readonly recordedAt: Date
}

export const logPositionOf = (event: RecordedEvent): LogPosition => ({
  transactionId: event.transactionId,
  position: event.position
})

/**
 * An events row as the driver hands it over. Kept as a plain interface with a hand mapping
 * (`toRecorded`), not a Schema: every event read (stream reads, the log followers, the projector)
 * passes through it, and a Schema decode per row would cost CPU per event on the hottest path
 * for columns the table's own types already guarantee. The event's `data` is decoded by its
 * Schema where it is used (`ConversationStream.decodeRecorded`).
 */
export interface EventRow {
  readonly position: string
  readonly transaction_id: string
  readonly stream_id: string
  readonly version: number
  readonly event_id: string
  readonly type: string
  readonly data: unknown
  readonly metadata: Readonly<Record<string, unknown>>
  readonly recorded_at: Date
}

export const toRecorded = (row: EventRow): RecordedEvent => ({
  position: Number(row.position),
  transactionId: Number(row.transaction_id),
  streamId: row.stream_id,
  version: row.version,
  eventId: row.event_id,
  type: row.type,
  data: row.data,
  metadata: row.metadata,
  recordedAt: row.recorded_at
})

/** The columns of an `EventRow`, for a statement of this client. */
export const eventColumns = (sql: SqlClient.SqlClient) =>
  sql`position::text, transaction_id::text, stream_id, version, event_id::text, type, data, metadata, recorded_at`

/** The reads of the log through one client (without transforms: the rows are mapped by hand). */
export const make = (sql: SqlClient.SqlClient) => {
  const columns = eventColumns(sql)

  const readStream = (streamId: string, fromVersion = 1): Stream.Stream<RecordedEvent, SqlError.SqlError> =>
    Stream.paginate(fromVersion, (from) =>
      sql<EventRow>`
        SELECT ${columns} FROM events
        WHERE stream_id = ${streamId} AND version >= ${from}
        ORDER BY events.version LIMIT 1000
      `.pipe(
        Effect.map((rows) => {
          const events = rows.map(toRecorded)
          const last = events[events.length - 1]
          return [
            events,
            rows.length === 1000 && last ? Option.some(last.version + 1) : Option.none()
          ] as const
        })
      )
    )

  const readEvents = (
    eventIds: ReadonlyArray<string>
  ): Effect.Effect<ReadonlyArray<RecordedEvent>, SqlError.SqlError> =>
    eventIds.length === 0
      ? Effect.succeed([])
      : sql<EventRow>`SELECT ${columns} FROM events WHERE event_id::text IN ${sql.in(eventIds)}`.pipe(
          Effect.map((rows) => rows.map(toRecorded))
        )

  /** Up to `limit` events after `from`, below the xid horizon, in the log's order. */
  const readBatch = (from: LogPosition, limit: number) =>
    sql<EventRow>`
      SELECT ${columns} FROM events
      WHERE (transaction_id, position) > (${String(from.transactionId)}::xid8, ${from.position})
        AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
      ORDER BY events.transaction_id, events.position
      LIMIT ${limit}
    `.pipe(Effect.map((rows) => rows.map(toRecorded)))

  const head: Effect.Effect<LogPosition, SqlError.SqlError> = sql<LogPositionRow>`
    SELECT transaction_id::text AS transaction_id, position::text AS position FROM events
    WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY transaction_id DESC, position DESC
    LIMIT 1
  `.pipe(Effect.map(firstLogPosition))

  const readAll = (
    from: LogPosition = logStart,
    batchSize = 1000
  ): Stream.Stream<RecordedEvent, SqlError.SqlError> =>
    Stream.paginate(from, (position) =>
      readBatch(position, batchSize).pipe(
        Effect.map((events) => {
          const last = events[events.length - 1]
          return [
            events,
            events.length === batchSize && last ? Option.some(logPositionOf(last)) : Option.none()
          ] as const
        })
      )
    )

  /**
   * Up to `limit` events at or below `upTo` in the log, in stream order (by stream, then version)
   * after `after`: every stream's events one after the other, for a pass over the log that wants
   * each stream whole (a rebuild of the read models). Postgres fetches them in the order of the
   * (stream, version) index, so the table's pages at random: slower per row than the log's order,
   * and worth it where a stream's rows are then written once rather than once per batch.
   */
  const readByStream = (
    after: { readonly streamId: string; readonly version: number },
    upTo: LogPosition,
    limit: number
  ) =>
    sql<EventRow>`
      SELECT ${columns} FROM events
      WHERE (stream_id, version) > (${after.streamId}, ${after.version})
        AND (transaction_id, position) <= (${String(upTo.transactionId)}::xid8, ${upTo.position})
      ORDER BY events.stream_id, events.version
      LIMIT ${limit}
    `.pipe(Effect.map((rows) => rows.map(toRecorded)))

  return { readStream, readEvents, readBatch, readAll, readByStream, head }
}
