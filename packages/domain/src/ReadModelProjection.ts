import { Effect, Stream } from "effect"
import type { SqlClient, SqlError } from "effect/sql"
import { decodeRecorded } from "./ConversationStream.ts"
import type { EventStore, RecordedEvent } from "./EventStore.ts"
import { type ConversationId, conversationStream } from "./Ids.ts"
import { messageIdsOf } from "./ReadModelEvents.ts"
import { type DecodedEvent, foldBatch, type SkippedEvent } from "./ReadModelFold.ts"
import { finishRows, loadMessages, loadRows, writeRows } from "./ReadModelStatements.ts"

/**
 * How a conversation's events change the read-model rows (rm_conversations, rm_messages,
 * rm_delivery_attempts). A conversation is always brought forward in stream order from the version
 * its row records, whatever order the global log delivered its events in, so the rows are a
 * function of the stream alone: following the log live and rebuilding from scratch give the same
 * rows. Callers run this inside the batch's transaction.
 *
 * This module gathers a batch (which rows to read, which events of each stream to apply); the fold
 * itself is pure (`ReadModelFold`, with `ReadModelEvents` for what one event does) and the SQL is
 * `ReadModelStatements`.
 *
 * Set-based: each SQL statement costs the one Node thread far more than computing a row change, so
 * a batch is applied with a constant number of statements whatever its size or how many
 * conversations it touches: one read (the conversations' rows, locked, and the message rows the
 * events name), then the events are applied in TypeScript, in stream order, to in-memory copies of
 * those rows, then two writes carry the results as multi-row statements (`ColumnArrays.unnestRows`).
 * The writes keep the guards the row-by-row statements had (inserts do nothing on conflict, a
 * message row only takes a change newer than its `version`), so applying a batch twice still
 * changes nothing. The per-conversation counts move by the difference each changed message row
 * makes instead of being counted again from rm_messages.
 */

/** The events of one conversation from `from` to `upTo`: the known ones, or else read from its stream. */
const eventsToApply = (
  store: EventStore["Service"],
  conversationId: string,
  from: number,
  upTo: number,
  known: ReadonlyArray<RecordedEvent>
): Effect.Effect<ReadonlyArray<RecordedEvent>, SqlError.SqlError> => {
  if (from > upTo) return Effect.succeed([])
  const pending = known.filter((event) => event.version >= from && event.version <= upTo)
  pending.sort((a, b) => a.version - b.version)
  const contiguous =
    pending.length === upTo - from + 1 && pending.every((event, i) => event.version === from + i)
  return contiguous
    ? Effect.succeed(pending)
    : store.readStream(conversationStream(conversationId as ConversationId), from).pipe(
        Stream.takeWhile((event) => event.version <= upTo),
        Stream.runCollect
      )
}

const logSkipped = (skipped: SkippedEvent) =>
  skipped._tag === "Undecodable"
    ? Effect.logWarning("read models: skipping an event they cannot decode", skipped.error)
    : Effect.logWarning("read models: skipping an event of a conversation that has not started", {
        streamId: skipped.streamId,
        version: skipped.version,
        type: skipped.type
      })

/** One conversation's share of a batch: the events of its stream the caller has, up to `upTo`. */
export interface ConversationEvents {
  readonly conversationId: string
  /** A version of the stream the log has shown. */
  readonly upTo: number
  readonly known: ReadonlyArray<RecordedEvent>
}

/**
 * Brings every conversation of a batch up to its `upTo`. Events of a stream the caller does not
 * have are read from the stream. Statements: one read, two writes (plus, only when events had to
 * be read from a stream, one read of the message rows they name).
 */
export const projectBatch = Effect.fnUntraced(function* (
  sql: SqlClient.SqlClient,
  store: EventStore["Service"],
  batch: ReadonlyArray<ConversationEvents>
) {
  if (batch.length === 0) return
  const decoded = new Map<RecordedEvent, DecodedEvent>()
  /** Synchronous, once per event: a batch decodes every event it applies. */
  const decode = (recorded: RecordedEvent): DecodedEvent => {
    const known = decoded.get(recorded)
    if (known !== undefined) return known
    const result: DecodedEvent = [recorded, decodeRecorded(recorded)]
    decoded.set(recorded, result)
    return result
  }
  const loaded = new Set<string>()
  for (const { known } of batch) {
    for (const recorded of known) {
      const [, event] = decode(recorded)
      if (event._tag === "Success") for (const id of messageIdsOf(event.success)) loaded.add(id)
    }
  }
  const rows = yield* loadRows(
    sql,
    batch.map((c) => c.conversationId),
    loaded
  )
  const versionOf = new Map(rows.conversations.map((row) => [row.conversation_id, row.version]))

  const eventsOf = new Map<string, ReadonlyArray<DecodedEvent>>()
  const unloaded = new Set<string>()
  for (const { conversationId, upTo, known } of batch) {
    const version = versionOf.get(conversationId) ?? 0
    const events = yield* eventsToApply(store, conversationId, version + 1, upTo, known)
    if (events.length === 0) continue
    const applicable: Array<DecodedEvent> = []
    for (const recorded of events) {
      const entry = decode(recorded)
      applicable.push(entry)
      if (entry[1]._tag === "Success") {
        for (const id of messageIdsOf(entry[1].success)) if (!loaded.has(id)) unloaded.add(id)
      }
    }
    eventsOf.set(conversationId, applicable)
  }
  if (eventsOf.size === 0) return
  const more = yield* loadMessages(sql, Array.from(unloaded))

  const folded = foldBatch({
    conversations: rows.conversations,
    messages: more.length === 0 ? rows.messages : [...rows.messages, ...more],
    events: eventsOf
  })
  for (const skipped of folded.skipped) yield* logSkipped(skipped)
  yield* writeRows(sql, folded.rows)
  yield* finishRows(sql, folded.rows)
})

/** Brings one conversation's rows up to `upTo`; `known` holds the events of its stream the caller has. */
export const projectConversation = (
  sql: SqlClient.SqlClient,
  store: EventStore["Service"],
  conversationId: string,
  upTo: number,
  known: ReadonlyArray<RecordedEvent>
): Effect.Effect<void, SqlError.SqlError> => projectBatch(sql, store, [{ conversationId, upTo, known }])
