import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Where each projection of the global log has read up to: the (transaction, position) of the
 * last event it applied. A projection applies its batch and moves its checkpoint in one
 * transaction, so after a crash it resumes exactly where it stopped.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE projection_checkpoints (
      name            text PRIMARY KEY,
      transaction_id  xid8        NOT NULL,
      position        bigint      NOT NULL,
      updated_at      timestamptz NOT NULL DEFAULT now()
    )
  `
})
