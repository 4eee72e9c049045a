import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Signing-secret rotation: the secret a rotation replaced keeps signing deliveries (beside the new
 * one) until `previous_secret_expires_at`, so receivers can switch over without losing any.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE installations
      ADD COLUMN previous_signing_secret    text        NULL,
      ADD COLUMN previous_secret_expires_at timestamptz NULL
  `
})
