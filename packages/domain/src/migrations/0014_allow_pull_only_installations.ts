import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * An installation created with `"responseUrl": null` is pull-only: its bot messages are read from
 * the webhook's answer (`?wait=`), the history API or the live streams, and never POSTed.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE installations ALTER COLUMN response_url DROP NOT NULL`
})
