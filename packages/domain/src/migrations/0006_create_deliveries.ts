import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/** One row per bot message and where its delivery stands: a read model projected from the log. */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE deliveries (
      message_id       uuid PRIMARY KEY,
      conversation_id  uuid        NOT NULL,
      installation_id  uuid        NOT NULL,
      type             text        NOT NULL,
      status           text        NOT NULL CHECK (status IN ('pending', 'delivered', 'dead_lettered')),
      attempts         integer     NOT NULL,
      last_status      integer,
      last_error       text,
      next_attempt_at  timestamptz,
      emitted_at       timestamptz NOT NULL,
      updated_at       timestamptz NOT NULL,
      -- the stream version of the last event applied: a row never goes back to an older state
      version          integer     NOT NULL
    )
  `
  yield* sql`CREATE INDEX deliveries_status_idx ON deliveries (status, emitted_at)`
  yield* sql`CREATE INDEX deliveries_installation_idx ON deliveries (installation_id, emitted_at)`
})
