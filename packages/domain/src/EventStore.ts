import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Exit, Fiber, Layer, Schema, type Stream } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { type Columns, unnestRows } from "./ColumnArrays.ts"
import type { LogPosition, RecordedEvent } from "./EventLog.ts"
import * as EventLog from "./EventLog.ts"
import type { SubscribeOptions } from "./LogFollower.ts"
import * as LogFollower from "./LogFollower.ts"
import * as Metrics from "./Metrics.ts"
import { hotSpan } from "./Tracing.ts"

/**
 * The Postgres event store: one `events` table, streams guarded by an expected version, and a
 * global log read below the xid horizon so that no late commit is ever skipped. This module holds
 * the service and its write path, `append`; reading the log is `EventLog.ts`, following it
 * `LogFollower.ts`, and the layer below puts the three together.
 */

export {
  firstLogPosition,
  LogPosition,
  type LogPositionRow,
  logPositionOf,
  logStart,
  type RecordedEvent
} from "./EventLog.ts"
export { LOG_STALL_BOUND, NOTIFY_CHANNEL, type SubscribeOptions } from "./LogFollower.ts"

/** The version a writer expects the stream to be at: an exact version (0 = empty), none, or any. */
export type ExpectedVersion = number | "no_stream" | "any"

export interface NewEvent {
  readonly eventId: string
  readonly type: string
  readonly data: unknown
  readonly metadata?: Readonly<Record<string, unknown>> | undefined
}

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
  static readonly layer = Layer.effect(
    EventStore,
    Effect.gen(function* () {
      const client = yield* SqlClient.SqlClient
      const sql = client.withoutTransforms()
      const reads = EventLog.make(sql)
      const follower = yield* LogFollower.make(sql, yield* PgClient.PgClient, reads.readBatch)
      const writes = yield* makeAppend(client, follower.appended)
      return EventStore.of({
        append: writes.append,
        streamVersion: writes.streamVersion,
        readStream: reads.readStream,
        readEvents: reads.readEvents,
        readAll: reads.readAll,
        head: reads.head,
        subscribe: follower.subscribe
      })
    })
  )
}

/** Group commits in flight at once: each holds a connection while it runs. */
const GROUP_COMMIT_WRITERS = 3

/**
 * Most appends in one group commit. A batch's callers all resume when it commits; more than this
 * made bursts of resumed work long enough to show in the end-to-end p99 (docs/PERFORMANCE.md).
 */
const GROUP_COMMIT_MAX_APPENDS = 64

/** An event as both insert statements read it: its append within the statement and its place in it (from 1). */
interface EventRow {
  readonly append: number
  readonly ord: number
  readonly id: string
  readonly type: string
  readonly data: string
  readonly metadata: string
}

const eventColumns: Columns<EventRow> = {
  append: "int4",
  ord: "int4",
  id: "uuid",
  type: "text",
  data: "jsonb",
  metadata: "jsonb"
}

/** An append of a group commit: its place in the statement, its stream and its expected version (-1: any). */
const appendColumns: Columns<{ n: number; stream_id: string; expected: number }> = {
  n: "int4",
  stream_id: "text",
  expected: "int4"
}

/** The events of a statement's appends, in order, bound as column arrays (`ColumnArrays.unnestRows`). */
const eventRows = (sql: SqlClient.SqlClient, appends: ReadonlyArray<ReadonlyArray<NewEvent>>) => {
  const rows: Array<EventRow> = []
  for (let append = 0; append < appends.length; append++) {
    const events = appends[append]!
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!
      rows.push({
        append,
        ord: i + 1,
        id: event.eventId,
        type: event.type,
        data: JSON.stringify(event.data),
        metadata: JSON.stringify(event.metadata ?? {})
      })
    }
  }
  return unnestRows(sql, rows, eventColumns, "ev")
}

/** An append waiting in the group commit's queue for its own answer. */
interface PendingAppend {
  readonly streamId: string
  readonly expected: ExpectedVersion
  readonly events: ReadonlyArray<NewEvent>
  readonly resume: (answer: Exit.Exit<AppendResult, AppendError>) => void
}

/**
 * The write path. Outside a caller's transaction an append joins the group commit: it waits in a
 * list, and once per turn of the event loop up to GROUP_COMMIT_WRITERS commits each take what has
 * gathered and commit it with one statement. While the statements run the list fills, so under
 * load each statement carries many appends and commits per append fall far below one; when idle
 * an append goes out at once (no timer, no added latency). Each append gets its own answer: one
 * append's failure never fails its neighbours. `appended` wakes the log's followers after a commit.
 */
const makeAppend = Effect.fnUntraced(function* (client: SqlClient.SqlClient, appended: Effect.Effect<void>) {
  const sql = client.withoutTransforms()

  const streamVersion = (streamId: string) =>
    sql<{ version: number }>`
      SELECT coalesce(max(version), 0)::int AS version FROM events WHERE stream_id = ${streamId}
    `.pipe(Effect.map((rows) => rows[0]?.version ?? 0))

  const insertOnce = (streamId: string, expected: ExpectedVersion, events: ReadonlyArray<NewEvent>) => {
    const guard =
      expected === "any"
        ? sql`TRUE`
        : sql`current_stream.version = ${expected === "no_stream" ? 0 : expected}`
    return sql<{ position: string; version: number }>`
      WITH current_stream AS (
        SELECT coalesce(max(version), 0) AS version FROM events WHERE stream_id = ${streamId}
      )
      INSERT INTO events (stream_id, version, event_id, type, data, metadata)
      SELECT ${streamId}, current_stream.version + ev.ord, ev.id, ev.type, ev.data, ev.metadata
      FROM current_stream, ${eventRows(sql, [events])}
      WHERE ${guard}
      ORDER BY ev.ord
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
    const inserted = insertOnce(streamId, expected, events).pipe(
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
      )
    )
    // "any" races only with other writers of the same stream: take the new version and go again.
    // Only "any" is retried, so only it pays for a retry's schedule (the per-message appends never do).
    const attempted =
      expected === "any"
        ? Effect.retry(inserted, {
            times: 50,
            while: (error) => error._tag === "SqlError" && error.reason._tag === "UniqueViolation"
          })
        : inserted
    return attempted.pipe(
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
    const streams = appends.map((append, n) => ({
      n,
      stream_id: append.streamId,
      expected: append.expected === "any" ? -1 : append.expected === "no_stream" ? 0 : append.expected
    }))
    return sql<{ n: number; version: number; positions: string | null }>`
      WITH checked AS (
        SELECT a.n, a.stream_id, a.expected,
               coalesce((SELECT max(e.version) FROM events e WHERE e.stream_id = a.stream_id), 0) AS version
        FROM ${unnestRows(sql, streams, appendColumns, "a")}
      ), inserted AS (
        INSERT INTO events (stream_id, version, event_id, type, data, metadata)
        SELECT c.stream_id, c.version + ev.ord, ev.id, ev.type, ev.data, ev.metadata
        FROM ${eventRows(
          sql,
          appends.map((append) => append.events)
        )}
        JOIN checked c ON c.n = ev.append
        WHERE c.expected < 0 OR c.version = c.expected
        ORDER BY ev.append, ev.ord
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

  /** One group commit of appends to distinct streams, its metrics, and the followers woken. */
  const commit = (batch: ReadonlyArray<PendingAppend>) =>
    Effect.suspend(() => {
      const started = performance.now()
      return Effect.flatMap(together(batch), (exits) => {
        let committed = 0
        let events = 0
        for (let i = 0; i < exits.length; i++) {
          if (Exit.isSuccess(exits[i]!)) {
            committed++
            events += batch[i]!.events.length
          }
        }
        const recorded = Metrics.groupCommit(
          batch.length,
          (performance.now() - started) / 1000,
          committed,
          events
        )
        return Effect.as(committed > 0 ? Effect.andThen(recorded, appended) : recorded, exits)
      })
    })

  // The group commit, without a fiber of its own between commits: appends wait in `waiting`; once
  // per turn of the event loop (`setImmediate`, so that every append offered in one poll phase
  // rides the same statement) up to GROUP_COMMIT_WRITERS commits are started, each a fiber of its
  // own that answers its appends through their callbacks when it ends.
  const services = yield* Effect.context<SqlClient.SqlClient>()
  const run = Effect.runForkWith(services)
  const waiting: Array<PendingAppend> = []
  const running = new Set<Fiber.Fiber<ReadonlyArray<Exit.Exit<AppendResult, AppendError>>>>()
  let flushing = false
  let closed = false

  /**
   * The next batch: the oldest appends, one per stream (two appends to one stream in one statement
   * would both read its version before either), at most GROUP_COMMIT_MAX_APPENDS. A stream's later
   * appends stay, in order, for a later batch.
   */
  const nextBatch = (): Array<PendingAppend> => {
    if (waiting.length === 1) return waiting.splice(0, 1)
    const batch: Array<PendingAppend> = []
    const left: Array<PendingAppend> = []
    const streams = new Set<string>()
    for (const pending of waiting) {
      if (batch.length < GROUP_COMMIT_MAX_APPENDS && !streams.has(pending.streamId)) {
        streams.add(pending.streamId)
        batch.push(pending)
      } else {
        left.push(pending)
      }
    }
    // Element by element: a spread of a long backlog would pass more arguments than a call takes.
    waiting.length = 0
    for (const pending of left) waiting.push(pending)
    return batch
  }

  const flush = () => {
    flushing = false
    while (!closed && running.size < GROUP_COMMIT_WRITERS && waiting.length > 0) {
      const batch = nextBatch()
      const fiber = run(commit(batch))
      running.add(fiber)
      fiber.addObserver((exit) => {
        running.delete(fiber)
        schedule()
        // Every append gets its answer; a defect or an interruption of the commit reaches all of them.
        for (let i = 0; i < batch.length; i++) {
          batch[i]!.resume(
            Exit.isSuccess(exit)
              ? (exit.value[i] ?? Exit.die(new Error(`group commit: no answer for append ${i}`)))
              : Exit.failCause(exit.cause)
          )
        }
      })
    }
  }

  const schedule = () => {
    if (flushing || closed || waiting.length === 0 || running.size >= GROUP_COMMIT_WRITERS) return
    flushing = true
    setImmediate(flush)
  }

  // On close, the appends still waiting are answered (interrupted), and so are those in flight.
  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      closed = true
      for (const pending of waiting.splice(0)) pending.resume(Exit.interrupt())
      return Effect.forEach([...running], Fiber.interrupt, { discard: true })
    })
  )

  /** An append joins the group commit, and its caller waits for its own answer. */
  const grouped = (streamId: string, expected: ExpectedVersion, events: ReadonlyArray<NewEvent>) =>
    Effect.callback<AppendResult, AppendError>((resume) => {
      if (closed) return resume(Exit.interrupt())
      const pending: PendingAppend = { streamId, expected, events, resume }
      waiting.push(pending)
      schedule()
      // A caller that stops waiting before its append is sent takes it back.
      return Effect.sync(() => {
        const at = waiting.indexOf(pending)
        if (at >= 0) waiting.splice(at, 1)
      })
    })

  const append = (
    streamId: string,
    expected: ExpectedVersion,
    events: ReadonlyArray<NewEvent>
  ): Effect.Effect<AppendResult, AppendError> =>
    Effect.withFiber((fiber): Effect.Effect<AppendResult, AppendError> => {
      if (events.length === 0) return checkVersion(streamId, expected)
      // Inside the caller's transaction the append must use the transaction's connection.
      if (Context.getOrUndefined(fiber.context, client.transactionService) !== undefined) {
        return Effect.tap(appendAlone(streamId, expected, events), () => appended)
      }
      return grouped(streamId, expected, events)
    }).pipe(hotSpan("EventStore.append"))

  /** An append of no events: only the expected version is checked. */
  const checkVersion = Effect.fnUntraced(function* (streamId: string, expected: ExpectedVersion) {
    const actual = yield* streamVersion(streamId)
    if ((typeof expected === "number" && actual !== expected) || (expected === "no_stream" && actual !== 0)) {
      return yield* new WrongExpectedVersion({ streamId, expected, actual })
    }
    return { version: actual, positions: [] }
  })

  return { append, streamVersion }
})
