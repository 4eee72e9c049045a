import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Room on each page of the read models for the rows' later versions. A message row changes after
 * it is written (its turn completes, its delivery settles) and a conversation row with every batch
 * that touches it; with full pages (the default fillfactor of 100) each such change is written to
 * another page and into every index of the table, where with room on its own page Postgres keeps
 * it there and leaves indexes whose columns it did not change alone (a HOT update). Applies to
 * the pages written from now on.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE rm_messages SET (fillfactor = 70)`
  yield* sql`ALTER TABLE rm_conversations SET (fillfactor = 50)`
})
