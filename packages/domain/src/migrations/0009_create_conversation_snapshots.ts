import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Snapshots of conversations' decision state (`DecisionState.ts`) at a stream version, so that an
 * actor waking on a long conversation folds only the events after it. A cache of the log, never a
 * source of truth: a row may be missing, old or of a format this version cannot read, and then
 * the stream is folded from its start. Emptying the table is always safe.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE conversation_snapshots (
      stream_id   text        PRIMARY KEY,
      version     integer     NOT NULL,
      state       jsonb       NOT NULL,
      written_at  timestamptz NOT NULL DEFAULT now()
    )
  `
})
