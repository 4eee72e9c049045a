import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/** Installations: a bot, the application's response endpoint, and how deliveries are signed and retried. */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE installations (
      id              uuid PRIMARY KEY,
      webhook_id      text        NOT NULL UNIQUE,
      bot             jsonb       NOT NULL,
      response_url    text        NOT NULL,
      signing_secret  text        NOT NULL,
      retry_schedule  jsonb       NOT NULL,
      created_at      timestamptz NOT NULL DEFAULT now(),
      deleted_at      timestamptz
    )
  `
})
