import { Context, Effect, Exit, Layer, Request, RequestResolver, Result, Schema } from "effect"
import type { NonEmptyArray } from "effect/Array"
import { SqlClient, type SqlError } from "effect/sql"
import { type Columns, unnestRows } from "./ColumnArrays.ts"
import {
  decodeRecorded,
  type EventDecodeError,
  type LoadedDecisionState,
  loadDecisionState
} from "./ConversationStream.ts"
import * as DecisionState from "./DecisionState.ts"
import { EventStore, type RecordedEvent } from "./EventStore.ts"
import { type ConversationId, conversationStream } from "./Ids.ts"
import { hotSpan } from "./Tracing.ts"

/**
 * Snapshots of conversations' decision state, so that waking a long conversation reads one
 * snapshot and the events after it instead of its whole stream. A snapshot is a cache of the log:
 * `load` folds from the start when there is none, or when it cannot be read (a format of another
 * version); `save` never moves a snapshot back to an older version.
 */

/** Snapshots carry their format; a snapshot of another format is ignored (folded from the log). */
export const FORMAT = 2

/** A writer saves a snapshot once its state is this many events past the last one. */
export const SNAPSHOT_EVERY = 100

export interface LoadedWithSnapshot extends LoadedDecisionState {
  /** The version of the snapshot the state was folded from (0: none, folded from the start). */
  readonly snapshotVersion: number
}

const Stored = Schema.Struct({ format: Schema.Literal(FORMAT), state: DecisionState.DecisionStateSchema })
const decodeStored = Schema.decodeUnknownResult(Stored)
const encodeStored = Schema.encodeSync(Stored)

/**
 * A row of `load`: the stream, its snapshot (on the stream's first row) beside each event after
 * it. A plain interface, as the event store's rows are: waking a conversation reads up to
 * `SNAPSHOT_EVERY` events through it, and the snapshot and each event are decoded by their own
 * Schemas (`Stored`, `decodeRecorded`).
 */
interface Row {
  readonly stream_id: string
  readonly snapshot_version: number | null
  readonly snapshot: unknown
  readonly position: string | null
  readonly transaction_id: string | null
  readonly version: number | null
  readonly event_id: string | null
  readonly type: string | null
  readonly data: unknown
  readonly metadata: Readonly<Record<string, unknown>> | null
  readonly recorded_at: Date | null
}

/** How the batch's stream ids are bound (`ColumnArrays.unnestRows`). */
const streamColumns: Columns<{ readonly stream_id: string }> = { stream_id: "text" }

/**
 * One conversation's state to load. Loads made in the same turn of the event loop (the first
 * messages of many new conversations, a burst of conversations woken by the schedule) share one
 * statement.
 */
interface Load extends Request.Request<LoadedWithSnapshot, SqlError.SqlError | EventDecodeError> {
  readonly conversationId: ConversationId
}
const Load = Request.of<Load>()

/** At most this many conversations in one statement (each reads up to `SNAPSHOT_EVERY` events). */
const LOAD_MAX_BATCH = 32

/**
 * A stream's state from its rows of a load: the snapshot (on the first row) and each event after
 * it. `undefined` when the snapshot cannot be read (a format of another version).
 */
const foldRows = (
  streamId: string,
  rows: ReadonlyArray<Row>
): Exit.Exit<LoadedWithSnapshot, EventDecodeError> | undefined => {
  const first = rows[0]
  const snapshotVersion = first?.snapshot_version ?? 0
  let state = DecisionState.initialState
  if (snapshotVersion > 0) {
    const stored = decodeStored(first?.snapshot)
    if (Result.isFailure(stored)) return undefined
    state = stored.success.state
  }
  let version = snapshotVersion
  for (const row of rows) {
    if (row.version === null) continue
    const recorded: RecordedEvent = {
      position: Number(row.position),
      transactionId: Number(row.transaction_id),
      streamId,
      version: row.version,
      eventId: row.event_id ?? "",
      type: row.type ?? "",
      data: row.data,
      metadata: row.metadata ?? {},
      recordedAt: row.recorded_at ?? new Date(0)
    }
    const event = decodeRecorded(recorded)
    if (Result.isFailure(event)) return Exit.fail(event.failure)
    state = DecisionState.evolve(state, event.success)
    version = row.version
  }
  return Exit.succeed({ state, version, snapshotVersion })
}

export class ConversationSnapshots extends Context.Service<
  ConversationSnapshots,
  {
    /**
     * The conversation's decision state: its snapshot (if any) and the events after it, in one
     * statement (shared by the loads made in the same turn of the event loop).
     */
    load(
      conversationId: ConversationId
    ): Effect.Effect<LoadedWithSnapshot, SqlError.SqlError | EventDecodeError>
    /** Saves a snapshot unless a newer one is already there. */
    save(conversationId: ConversationId, loaded: LoadedDecisionState): Effect.Effect<void, SqlError.SqlError>
  }
>()("@messaging-api/domain/ConversationSnapshots") {
  static readonly layer = Layer.effect(
    ConversationSnapshots,
    Effect.gen(function* () {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const store = yield* EventStore

      const fromStart = (conversationId: ConversationId) =>
        Effect.map(loadDecisionState(store, conversationId), (loaded) => ({ ...loaded, snapshotVersion: 0 }))

      /** Answers each load of the batch from the rows of its stream, in one statement for all. */
      const loadMany = (entries: NonEmptyArray<Request.Entry<Load>>) => {
        const streamIds = Array.from(
          new Set(entries.map((entry) => conversationStream(entry.request.conversationId)))
        )
        const ids = unnestRows(
          sql,
          streamIds.map((stream_id) => ({ stream_id })),
          streamColumns,
          "ids"
        )
        return sql<Row>`
          SELECT ids.stream_id, s.version AS snapshot_version,
                 CASE WHEN e.version IS NULL OR e.version = s.version + 1 THEN s.state END AS snapshot,
                 e.position::text AS position, e.transaction_id::text AS transaction_id, e.version,
                 e.event_id::text AS event_id, e.type, e.data, e.metadata, e.recorded_at
          FROM ${ids}
          LEFT JOIN conversation_snapshots s ON s.stream_id = ids.stream_id
          LEFT JOIN LATERAL (
            SELECT * FROM events
            WHERE events.stream_id = ids.stream_id AND events.version > coalesce(s.version, 0)
            ORDER BY events.version
          ) e ON TRUE
          ORDER BY ids.stream_id, e.version
        `.pipe(
          Effect.matchCauseEffect({
            onSuccess: (rows) => {
              const byStream = new Map<string, Array<Row>>()
              for (const row of rows) {
                const own = byStream.get(row.stream_id)
                if (own === undefined) byStream.set(row.stream_id, [row])
                else own.push(row)
              }
              const unreadable: Array<Request.Entry<Load>> = []
              for (const entry of entries) {
                const streamId = conversationStream(entry.request.conversationId)
                const folded = foldRows(streamId, byStream.get(streamId) ?? [])
                if (folded === undefined) unreadable.push(entry)
                else entry.completeUnsafe(folded)
              }
              // A snapshot this version cannot read: the log is the truth, fold it from the start.
              return Effect.forEach(
                unreadable,
                (entry) =>
                  Effect.exit(fromStart(entry.request.conversationId)).pipe(
                    Effect.map((exit) => entry.completeUnsafe(exit))
                  ),
                { discard: true }
              )
            },
            onFailure: (cause) =>
              Effect.sync(() => {
                for (const entry of entries) entry.completeUnsafe(Exit.failCause(cause))
              })
          })
        )
      }

      const loads = RequestResolver.make<Load>(loadMany).pipe(RequestResolver.batchN(LOAD_MAX_BATCH))

      const save = (conversationId: ConversationId, loaded: LoadedDecisionState) =>
        sql`
          INSERT INTO conversation_snapshots (stream_id, version, state)
          VALUES (${conversationStream(conversationId)}, ${loaded.version},
                  ${JSON.stringify(encodeStored({ format: FORMAT, state: loaded.state }))}::jsonb)
          ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state, written_at = now()
          WHERE conversation_snapshots.version < EXCLUDED.version
        `.pipe(Effect.asVoid)

      return ConversationSnapshots.of({
        load: (conversationId) =>
          Effect.request(Load({ conversationId }), loads).pipe(hotSpan("ConversationSnapshots.load")),
        save: (conversationId, loaded) =>
          save(conversationId, loaded).pipe(hotSpan("ConversationSnapshots.save"))
      })
    })
  )
}
