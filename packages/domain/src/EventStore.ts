import { PgClient } from "@effect/sql-pg"
import { Clock, Context, Duration, Effect, Exit, Layer, Option, PubSub, Queue, Schema, Stream } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import * as GroupCommit from "./GroupCommit.ts"
import * as Metrics from "./Metrics.ts"
import { hotSpan } from "./Tracing.ts"

/**
 * The Postgres event store: one `events` table, streams guarded by an expected version, and a
 * global log read below the xid horizon so that no late commit is ever skipped.
 */

/** The version a writer expects the stream to be at: an exact version (0 = empty), none, or any. */
export type ExpectedVersion = number | "no_stream" | "any"

export interface NewEvent {
  readonly eventId: string
  readonly type: string
  readonly data: unknown
  readonly metadata?: Readonly<Record<string, unknown>> | undefined
}

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

export interface AppendResult {
  /** The stream's version after the append: pass it as the next expected version. */
  readonly version: number
  readonly positions: ReadonlyArray<number>
}

export class WrongExpectedVersion extends Schema.TaggedError<WrongExpectedVersion>()("WrongExpectedVersion", {
  streamId: Schema.String,
  expected: Schema.Union([Schema.Finite, Schema.Literals(["no_stream", "any"])]),
  actual: Schema.Finite
}) {}

/** An event id is unique in the whole log: the same event is never stored twice. */
export class DuplicateEventId extends Schema.TaggedError<DuplicateEventId>()("DuplicateEventId", {
  eventIds: Schema.Array(Schema.String)
}) {}

export type AppendError = WrongExpectedVersion | DuplicateEventId | SqlError.SqlError

export interface SubscribeOptions {
  /** How long to wait for a wake-up before looking again anyway. */
  readonly pollInterval?: Duration.Input
  readonly batchSize?: number
  /**
   * Once woken, how long to wait before reading, so that the appends arriving meanwhile come in
   * the same batch: a follower that reads after every group commit spends its time on round trips
   * of a few events each. Default none.
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

export class EventStore extends Context.Service<
  EventStore,
  {
    append(
      streamId: string,
      expected: ExpectedVersion,
      events: ReadonlyArray<NewEvent>
    ): Effect.Effect<AppendResult, AppendError>
    /** The stream's current version (0 when it has no events). */
    streamVersion(streamId: string): Effect.Effect<number, SqlError.SqlError>
    /** The events of one stream from a version on, in order. */
    readStream(streamId: string, fromVersion?: number): Stream.Stream<RecordedEvent, SqlError.SqlError>
    /** The events with these ids (any stream). */
    readEvents(
      eventIds: ReadonlyArray<string>
    ): Effect.Effect<ReadonlyArray<RecordedEvent>, SqlError.SqlError>
    /** The global log after a position up to the xid horizon, then ends. */
    readAll(from?: LogPosition, batchSize?: number): Stream.Stream<RecordedEvent, SqlError.SqlError>
    /**
     * The newest position below the xid horizon: every event at or before it is committed and
     * visible, every later one is after it in the log, so `subscribe(head)` misses nothing that
     * commits from now on.
     */
    readonly head: Effect.Effect<LogPosition, SqlError.SqlError>
    /** The global log after a position, following it forever (LISTEN/NOTIFY wake-ups, polling fallback). */
    subscribe(from: LogPosition, options?: SubscribeOptions): Stream.Stream<RecordedEvent, SqlError.SqlError>
  }
>()("@messaging-api/domain/EventStore") {
  static readonly layer = Layer.effect(EventStore, makeEventStore())
}

/** Group commits in flight at once: each holds a connection while it runs. */
const GROUP_COMMIT_WRITERS = 3

/**
 * Most appends in one group commit. A batch's callers all resume when it commits; more than this
 * made bursts of resumed work long enough to show in the end-to-end p99 (docs/PERFORMANCE.md).
 */
const GROUP_COMMIT_MAX_APPENDS = 64

interface PendingAppend {
  readonly streamId: string
  readonly expected: ExpectedVersion
  readonly events: ReadonlyArray<NewEvent>
}

export const NOTIFY_CHANNEL = "messaging_api_events"

/**
 * An events row as the driver hands it over. Kept as a plain interface with a hand mapping
 * (`toRecorded`), not a Schema: every event read (stream reads, the log followers, the projector)
 * passes through it, and a Schema decode per row would cost CPU per event on the hottest path
 * for columns the table's own types already guarantee. The event's `data` is decoded by its
 * Schema where it is used (`ConversationStream.decodeRecorded`).
 */
interface EventRow {
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

const toRecorded = (row: EventRow): RecordedEvent => ({
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

function makeEventStore() {
  return Effect.gen(function* () {
    const client = yield* SqlClient.SqlClient
    const sql = client.withoutTransforms()
    const pg = yield* PgClient.PgClient

    // Wake-ups: local appends publish here directly; other processes' appends arrive by NOTIFY.
    const wakeups = yield* PubSub.sliding<void>(1)
    const toNotify = yield* Queue.sliding<void>(1)
    yield* Queue.take(toNotify).pipe(
      Effect.flatMap(() => pg.notify(NOTIFY_CHANNEL, "")),
      Effect.catch((error) => Effect.logDebug("event-store notify failed", error)),
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

    const streamVersion = (streamId: string) =>
      sql<{ version: number }>`
        SELECT coalesce(max(version), 0)::int AS version FROM events WHERE stream_id = ${streamId}
      `.pipe(Effect.map((rows) => rows[0]?.version ?? 0))

    const insertOnce = (streamId: string, expected: ExpectedVersion, events: ReadonlyArray<NewEvent>) => {
      const documents = JSON.stringify(
        events.map((event) => ({
          id: event.eventId,
          type: event.type,
          data: event.data,
          metadata: event.metadata ?? {}
        }))
      )
      const guard =
        expected === "any"
          ? sql`TRUE`
          : sql`current_stream.version = ${expected === "no_stream" ? 0 : expected}`
      return sql<{ position: string; version: number }>`
        WITH current_stream AS (
          SELECT coalesce(max(version), 0) AS version FROM events WHERE stream_id = ${streamId}
        ), incoming AS (
          SELECT doc, ord FROM jsonb_array_elements(${documents}::jsonb) WITH ORDINALITY AS e(doc, ord)
        )
        INSERT INTO events (stream_id, version, event_id, type, data, metadata)
        SELECT ${streamId}, current_stream.version + incoming.ord, (incoming.doc->>'id')::uuid,
               incoming.doc->>'type', incoming.doc->'data', incoming.doc->'metadata'
        FROM current_stream, incoming
        WHERE ${guard}
        ORDER BY incoming.ord
        RETURNING position, version
      `
    }

    /** One append on its own: one statement, a typed error for a conflict or a duplicate. */
    const appendAlone = (
      streamId: string,
      expected: ExpectedVersion,
      events: ReadonlyArray<NewEvent>
    ): Effect.Effect<AppendResult, AppendError> => {
      const conflict = Effect.fnUntraced(function* () {
        const actual = yield* streamVersion(streamId)
        return yield* new WrongExpectedVersion({ streamId, expected, actual })
      })
      return insertOnce(streamId, expected, events).pipe(
        Effect.catchReason(
          "SqlError",
          "UniqueViolation",
          (reason, error): Effect.Effect<never, AppendError> => {
            if (reason.constraint === "events_event_id_key") {
              return Effect.fail(new DuplicateEventId({ eventIds: events.map((event) => event.eventId) }))
            }
            if (reason.constraint === "events_stream_version_key" && expected !== "any") return conflict()
            return Effect.fail(error)
          }
        ),
        // "any" races only with other writers of the same stream: take the new version and go again.
        Effect.retry({
          times: 50,
          while: (error) => expected === "any" && error._tag === "SqlError"
        }),
        Effect.flatMap((rows) =>
          rows.length === 0
            ? conflict()
            : Effect.succeed({
                version: rows[rows.length - 1]!.version,
                positions: rows.map((row) => Number(row.position))
              })
        )
      )
    }

    /**
     * Many appends (to different streams, with no event id in common) in ONE statement: each
     * append's expected version is checked on its own and only the appends that pass are
     * inserted, so a conflict fails that append alone. An event id already in the log (a retried
     * request), a unique violation from a concurrent writer in another transaction, or a value
     * Postgres refuses fails the statement: then each half is tried again (`together`), so the one
     * bad append ends up alone with its own answer while the others still commit in a few
     * statements. Event ids are not looked up beforehand: that probe, planned on the young
     * statistics of a new database, was a sequential scan of the log per append (measured), and
     * the unique index already answers the question for free.
     */
    const insertMany = (appends: ReadonlyArray<PendingAppend>) => {
      const documents = JSON.stringify(
        appends.map((append, n) => ({
          n,
          stream_id: append.streamId,
          expected: append.expected === "any" ? -1 : append.expected === "no_stream" ? 0 : append.expected,
          events: append.events.map((event) => ({
            id: event.eventId,
            type: event.type,
            data: event.data,
            metadata: event.metadata ?? {}
          }))
        }))
      )
      return sql<{ n: number; version: number; positions: string | null }>`
        WITH appends AS (
          SELECT a.n, a.stream_id, a.expected, a.events
          FROM jsonb_to_recordset(${documents}::jsonb) AS a(n int, stream_id text, expected int, events jsonb)
        ), checked AS (
          SELECT ap.n, ap.stream_id, ap.expected, ap.events,
                 coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = ap.stream_id), 0) AS version
          FROM appends ap
        ), inserted AS (
          INSERT INTO events (stream_id, version, event_id, type, data, metadata)
          SELECT c.stream_id, c.version + ev.ord, (ev.doc->>'id')::uuid, ev.doc->>'type', ev.doc->'data', ev.doc->'metadata'
          FROM checked c CROSS JOIN LATERAL jsonb_array_elements(c.events) WITH ORDINALITY AS ev(doc, ord)
          WHERE c.expected < 0 OR c.version = c.expected
          ORDER BY c.n, ev.ord
          RETURNING stream_id, position, version
        )
        SELECT c.n, c.version::int AS version, i.positions
        FROM checked c LEFT JOIN (
          SELECT stream_id, string_agg(position::text, ',' ORDER BY version) AS positions
          FROM inserted GROUP BY stream_id
        ) i ON i.stream_id = c.stream_id
        ORDER BY c.n
      `.pipe(
        Effect.map((rows) =>
          appends.map((append, n): Exit.Exit<AppendResult, AppendError> => {
            const row = rows[n]
            if (row === undefined) return Exit.die(new Error(`group append: no answer for append ${n}`))
            if (row.positions !== null) {
              return Exit.succeed({
                version: row.version + append.events.length,
                positions: row.positions.split(",").map(Number)
              })
            }
            return Exit.fail(
              new WrongExpectedVersion({
                streamId: append.streamId,
                expected: append.expected,
                actual: row.version
              })
            )
          })
        )
      )
    }

    const alone = (append: PendingAppend) =>
      Effect.exit(appendAlone(append.streamId, append.expected, append.events))

    /** Appends to distinct streams together; when the statement fails, each half again (down to one alone). */
    const together = (
      appends: ReadonlyArray<PendingAppend>
    ): Effect.Effect<ReadonlyArray<Exit.Exit<AppendResult, AppendError>>> => {
      if (appends.length === 1) return Effect.map(alone(appends[0]!), (exit) => [exit])
      return insertMany(appends).pipe(
        Effect.catch((error) => {
          // The database is out of reach, or too slow (DATABASE_STATEMENT_TIMEOUT): every append of the
          // batch gets that answer, no retries (halves would each wait as long again).
          if (error.reason._tag === "ConnectionError" || error.reason._tag === "StatementTimeoutError")
            return Effect.succeed(appends.map(() => Exit.fail(error)))
          const half = Math.ceil(appends.length / 2)
          return Effect.zipWith(
            together(appends.slice(0, half)),
            together(appends.slice(half)),
            (first, second) => [...first, ...second]
          )
        })
      )
    }

    /** One group commit (its appends are to distinct streams: `keyOf` below). */
    const commit = (appends: ReadonlyArray<PendingAppend>) =>
      Effect.gen(function* () {
        const started = performance.now()
        const exits = yield* together(appends)
        let committed = 0
        let events = 0
        exits.forEach((exit, i) => {
          if (Exit.isSuccess(exit)) {
            committed++
            events += appends[i]!.events.length
          }
        })
        yield* Metrics.groupCommit(appends.length, (performance.now() - started) / 1000, committed, events)
        return exits
      }).pipe(
        Effect.tap((exits) => (exits.some(Exit.isSuccess) ? appended : Effect.void)),
        Effect.withSpan(
          "EventStore.groupCommit",
          { attributes: { appends: appends.length } },
          { captureStackTrace: false }
        )
      )

    const submit = yield* GroupCommit.make({
      maxBatch: GROUP_COMMIT_MAX_APPENDS,
      writers: GROUP_COMMIT_WRITERS,
      commit,
      // Two appends to one stream in one statement would both read its version before either.
      keyOf: (append) => append.streamId
    })

    const append = Effect.fnUntraced(function* (
      streamId: string,
      expected: ExpectedVersion,
      events: ReadonlyArray<NewEvent>
    ): Effect.fn.Return<AppendResult, AppendError> {
      if (events.length === 0) {
        const actual = yield* streamVersion(streamId)
        if (typeof expected === "number" && actual !== expected) {
          return yield* new WrongExpectedVersion({ streamId, expected, actual })
        }
        if (expected === "no_stream" && actual !== 0) {
          return yield* new WrongExpectedVersion({ streamId, expected, actual })
        }
        return { version: actual, positions: [] }
      }
      // Inside the caller's transaction the append must use the transaction's connection.
      if (Option.isSome(yield* Effect.serviceOption(client.transactionService))) {
        const result = yield* appendAlone(streamId, expected, events)
        yield* appended
        return result
      }
      return yield* submit({ streamId, expected, events })
    }, hotSpan("EventStore.append"))

    const columns = sql`position::text, transaction_id::text, stream_id, version, event_id::text, type, data, metadata, recorded_at`

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

    const readEvents = (eventIds: ReadonlyArray<string>) =>
      eventIds.length === 0
        ? Effect.succeed([])
        : sql<EventRow>`SELECT ${columns} FROM events WHERE event_id::text IN ${sql.in(eventIds)}`.pipe(
            Effect.map((rows) => rows.map(toRecorded))
          )

    const readBatch = (from: LogPosition, limit: number) =>
      sql<EventRow>`
        SELECT ${columns} FROM events
        WHERE (transaction_id, position) > (${String(from.transactionId)}::xid8, ${from.position})
          AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY events.transaction_id, events.position
        LIMIT ${limit}
      `.pipe(Effect.map((rows) => rows.map(toRecorded)))

    const head = sql<LogPositionRow>`
      SELECT transaction_id::text AS transaction_id, position::text AS position FROM events
      WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
      ORDER BY transaction_id DESC, position DESC
      LIMIT 1
    `.pipe(Effect.map(firstLogPosition))

    const readAll = (from: LogPosition = logStart, batchSize = 1000) =>
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
          return Stream.paginate(from, (position) =>
            readBatch(position, batchSize).pipe(
              Effect.tap((events) => (events.length === 0 ? waitForMore : Effect.void)),
              Effect.map((events) => {
                const last = events[events.length - 1]
                return [events, Option.some(last ? logPositionOf(last) : position)] as const
              })
            )
          )
        })
      )
    }

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

    return EventStore.of({ append, streamVersion, readStream, readEvents, readAll, head, subscribe })
  })
}
