import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Read model: every delivery attempt of every bot message, keyed by the stream version of the
 * event that recorded it (attempt numbers start again after a redelivery). `outcome` is
 * `delivered`, `failed` (retried later) or `dead_lettered` (the attempt that gave up).
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE rm_delivery_attempts (
      conversation_id  uuid             NOT NULL,
      stream_version   integer          NOT NULL,
      message_id       uuid             NOT NULL,
      installation_id  uuid             NOT NULL,
      attempt          integer          NOT NULL,
      outcome          text             NOT NULL CHECK (outcome IN ('delivered', 'failed', 'dead_lettered')),
      status           integer,
      error            text,
      duration_ms      double precision NOT NULL,
      next_attempt_at  timestamptz,
      at               timestamptz      NOT NULL,
      PRIMARY KEY (conversation_id, stream_version)
    )
  `
  yield* sql`CREATE INDEX rm_delivery_attempts_message_idx ON rm_delivery_attempts (message_id, stream_version)`
})
