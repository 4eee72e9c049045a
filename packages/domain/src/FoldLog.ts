import { Effect, Option, Result, Stream } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { evolve, initialState } from "./Conversation.ts"
import { decodeRecorded, type EventDecodeError, type LoadedConversation } from "./ConversationStream.ts"
import { type LogPosition, logStart, type RecordedEvent } from "./EventStore.ts"
import { isConversationStream } from "./Ids.ts"

/**
 * Folding every conversation of the global log in one pass (replay, the benchmark): one state
 * per stream, as `ConversationStream.load` gives for each.
 *
 * It reads the log itself rather than through `EventStore.readAll`, for two reasons. A fold needs
 * four columns of a row (the stream, its version, the type and the data) and the position of a
 * page's last row, where `readAll` hands over every column (the event id, the metadata document
 * and the time too): on a million events that was a third of the reading. And it reads below one
 * xid horizon, taken once at the start, so that the fold is of one fixed set of events — every
 * transaction below it has ended — however long it takes.
 */

/** A row of the log as the fold reads it: what `decodeRecorded` needs, and the page's cursor. */
export interface FoldRow extends Pick<RecordedEvent, "streamId" | "version" | "type" | "data"> {
  /** `xid8` and `bigint` as text: an xid8 overflows int4, and neither needs arithmetic here. */
  readonly transactionId: string
  readonly position: string
}

export interface FoldOptions {
  /** Fold the events after this position (default: the start of the log). */
  readonly from?: LogPosition
  /** Rows per page (default 5,000). */
  readonly batchSize?: number
}

/**
 * The rows of the global log after `from`, in the log's order, up to the xid horizon when it
 * starts: in pages of `batchSize`, one array each.
 */
export const readLog = (
  options?: FoldOptions
): Stream.Stream<FoldRow, SqlError.SqlError, SqlClient.SqlClient> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const batchSize = options?.batchSize ?? 5_000
      const [snapshot] = yield* sql<{ horizon: string }>`
        SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon
      `
      const horizon = snapshot?.horizon ?? "0"
      const page = (after: { readonly transactionId: string; readonly position: number }) =>
        sql<FoldRow>`
          SELECT transaction_id::text AS "transactionId", position::text AS position,
                 stream_id AS "streamId", version, type, data
          FROM events
          WHERE (transaction_id, position) > (${after.transactionId}::xid8, ${after.position})
            AND transaction_id < ${horizon}::xid8
          -- Qualified: a bare "position" here would be the text column above, in text order.
          ORDER BY events.transaction_id, events.position
          LIMIT ${batchSize}
        `
      const from = options?.from ?? logStart
      return Stream.paginate(
        { transactionId: String(from.transactionId), position: from.position },
        (after) =>
          page(after).pipe(
            Effect.map((rows) => {
              const last = rows[rows.length - 1]
              return [
                rows,
                rows.length === batchSize && last !== undefined
                  ? Option.some({ transactionId: last.transactionId, position: Number(last.position) })
                  : Option.none()
              ] as const
            })
          )
      )
    })
  )

/** What the fold keeps per stream while it runs: one record updated in place, not one per event. */
interface Folding {
  state: LoadedConversation["state"]
  version: number
}

/**
 * Folds every conversation of the global log (after `from`, up to the xid horizon when it
 * starts). Pages of the log are read ahead while the previous one is folded. Streams that are not
 * conversations are left out, and so are events of types this version does not know (written by a
 * newer one), as the read-model projector does; a known event that does not match its schema fails
 * the fold.
 */
export const foldLog = (
  options?: FoldOptions
): Effect.Effect<
  Map<string, LoadedConversation>,
  SqlError.SqlError | EventDecodeError,
  SqlClient.SqlClient
> =>
  Effect.suspend(() => {
    const folded = new Map<string, Folding>()
    return readLog(options).pipe(
      Stream.bufferArray({ capacity: 2 }),
      Stream.runForEachArray((rows) => {
        for (const row of rows) {
          if (!isConversationStream(row.streamId)) continue
          const event = decodeRecorded(row)
          if (Result.isFailure(event)) {
            if (event.failure._tag === "UnknownEventType") continue
            return Effect.fail(event.failure)
          }
          const current = folded.get(row.streamId)
          if (current === undefined) {
            folded.set(row.streamId, { state: evolve(initialState, event.success), version: row.version })
          } else {
            current.state = evolve(current.state, event.success)
            current.version = row.version
          }
        }
        return Effect.void
      }),
      Effect.as(folded)
    )
  })
