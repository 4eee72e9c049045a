import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The health of each installation's response endpoint: since when it has failed without a success
 * in between, the last error, and when it was paused (its deliveries held back until an operator
 * resumes it). An installation without a row is healthy; a success removes nothing but clears
 * `failing_since`, so the table holds one small row per installation that ever failed.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE endpoint_health (
      installation_id  uuid        PRIMARY KEY REFERENCES installations (id),
      failing_since    timestamptz,
      last_error       text,
      paused_at        timestamptz,
      updated_at       timestamptz NOT NULL DEFAULT now()
    )
  `
})
