import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The event log: one row per event, one stream per conversation.
 * - `position` orders the global log; `(stream_id, version)` orders a stream and guards writers.
 * - `transaction_id` is the writing transaction: readers of the global log take only rows older
 *   than every open transaction (the xid horizon), so a late commit is never skipped.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE events (
      position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      stream_id       text        NOT NULL,
      version         integer     NOT NULL CHECK (version > 0),
      event_id        uuid        NOT NULL,
      type            text        NOT NULL,
      data            jsonb       NOT NULL,
      metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
      recorded_at     timestamptz NOT NULL DEFAULT now(),
      transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
      CONSTRAINT events_stream_version_key UNIQUE (stream_id, version),
      CONSTRAINT events_event_id_key UNIQUE (event_id)
    )
  `
  yield* sql`CREATE INDEX events_transaction_position_idx ON events (transaction_id, position)`
})
