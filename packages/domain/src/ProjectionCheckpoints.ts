import { Effect } from "effect"
import type { SqlClient } from "effect/sql"
import { firstLogPosition, type LogPosition, type LogPositionRow } from "./EventStore.ts"

/**
 * How far a follower of the global log has come: one row of `projection_checkpoints` per follower
 * (the read-model projector, the delivery projector).
 */

/** The follower's checkpoint, or the start of the log when it has none. */
export const read = (sql: SqlClient.SqlClient, name: string) =>
  sql<LogPositionRow>`
    SELECT transaction_id::text AS transaction_id, position::text AS position
    FROM projection_checkpoints WHERE name = ${name}
  `.pipe(Effect.map(firstLogPosition))

/** Moves the checkpoint to `position`; only forward: a follower that lags behind another one never moves it back. */
export const save = (sql: SqlClient.SqlClient, name: string, position: LogPosition) => sql`
  INSERT INTO projection_checkpoints (name, transaction_id, position, updated_at)
  VALUES (${name}, ${String(position.transactionId)}::xid8, ${position.position}, now())
  ON CONFLICT (name) DO UPDATE
    SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position, updated_at = now()
    WHERE (projection_checkpoints.transaction_id, projection_checkpoints.position)
        < (EXCLUDED.transaction_id, EXCLUDED.position)
`
