import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * For several processes sharing conversations on effect/cluster:
 * - `cluster_shard_of(entity_id, shards)`: the shard effect/cluster routes an entity id to (its
 *   `Sharding.getShardId`: a djb2-style hash over the UTF-16 code units, folded as JavaScript
 *   does with 32-bit integers, modulo the shard count, plus one). The work schedule uses it to
 *   look only at the conversations of the shards its runner owns. A test checks it against the
 *   cluster's own function.
 * - `cluster_runner_shards`: the shards each runner reports it holds now (for the CLI); a runner
 *   removes its row when it stops.
 * effect/cluster's own tables (`cluster_runners`, `cluster_locks`) are created by its migrations,
 * which the server runs under this migrator's lock before a runner starts.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE FUNCTION cluster_shard_of(entity_id text, shards integer) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
    DECLARE
      h bigint := 5381;
      i integer := length(entity_id);
      s bigint;
    BEGIN
      WHILE i > 0 LOOP
        -- (h * 33) ^ code, as 32-bit integers: h * 33 is exact in a bigint, then taken modulo 2^32.
        h := (((h * 33) % 4294967296) + 4294967296) % 4294967296 # ascii(substr(entity_id, i, 1));
        IF h >= 2147483648 THEN h := h - 4294967296; END IF;
        i := i - 1;
      END LOOP;
      -- hashOptimize: bit 30 takes bit 31's value.
      s := ((h + 4294967296) % 4294967296 & 3221225471) | (((h + 4294967296) % 4294967296 >> 1) & 1073741824);
      IF s >= 2147483648 THEN s := s - 4294967296; END IF;
      RETURN abs(s % shards)::integer + 1;
    END
    $$
  `
  yield* sql`
    CREATE TABLE cluster_runner_shards (
      runner      text        PRIMARY KEY,
      shards      integer[]   NOT NULL,
      updated_at  timestamptz NOT NULL DEFAULT now()
    )
  `
})
