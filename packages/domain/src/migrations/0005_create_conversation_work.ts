import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Conversations that may have work to do (an open bot turn or an undelivered message), and when
 * to look at them next. It is a hint projected from the log: a row may be stale, never missing.
 * `version` is the stream version the row reflects; an actor that has seen a later version may
 * move or delete it.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE conversation_work (
      conversation_id  uuid PRIMARY KEY,
      installation_id  uuid,
      due_at           timestamptz NOT NULL,
      version          integer     NOT NULL
    )
  `
  yield* sql`CREATE INDEX conversation_work_due_at_idx ON conversation_work (due_at)`
})
