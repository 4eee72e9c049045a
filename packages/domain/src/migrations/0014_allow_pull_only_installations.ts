import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * An installation created with `"responseUrl": null` is pull-only: its bot messages are read from
 * the webhook's answer (`?wait=`), the history API or the live streams, and never POSTed: their
 * delivery status is `pull`.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE installations ALTER COLUMN response_url DROP NOT NULL`
  yield* sql`
    ALTER TABLE rm_messages
      DROP CONSTRAINT rm_messages_delivery_status_check,
      ADD CONSTRAINT rm_messages_delivery_status_check
        CHECK (delivery_status IN ('pending', 'delivered', 'dead_lettered', 'pull'))
  `
})
