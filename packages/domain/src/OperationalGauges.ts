import { Effect, Metric } from "effect"
import { SqlClient } from "effect/sql"
import * as Metrics from "./Metrics.ts"
import { hotSpan } from "./Tracing.ts"

/**
 * The gauges that need the database, sampled when `/metrics` is scraped (a few indexed reads per
 * scrape, nothing per request): pending deliveries and dead letters from the read models, how far
 * each projection trails the log, and the database's connections. When the database cannot be
 * reached the gauges keep their last values (and `/readyz` says why).
 */
export const sample: Effect.Effect<void, never, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()

  const deliveries = yield* sql<{ readonly pending: string; readonly dead: string }>`
    SELECT count(*) FILTER (WHERE delivery_status = 'pending')::text AS pending,
           count(*) FILTER (WHERE delivery_status = 'dead_lettered')::text AS dead
    FROM rm_messages WHERE direction = 'bot' AND delivery_status IN ('pending', 'dead_lettered')
  `
  yield* Metric.update(Metrics.pendingDeliveries, Number(deliveries[0]?.pending ?? 0))
  yield* Metric.update(Metrics.deadLetters, Number(deliveries[0]?.dead ?? 0))

  const followers = yield* sql<{
    readonly name: string
    readonly behind: string
    readonly oldest_seconds: number | null
  }>`
    SELECT c.name,
           greatest(0, coalesce((SELECT max(position) FROM events), 0) - c.position)::text AS behind,
           (SELECT extract(epoch FROM now() - e.recorded_at)::float8 FROM events e
             WHERE e.position > c.position ORDER BY e.position LIMIT 1) AS oldest_seconds
    FROM projection_checkpoints c
  `
  for (const follower of followers) {
    yield* Metric.update(Metrics.followerLagEventsOf(follower.name), Number(follower.behind))
    yield* Metric.update(
      Metrics.followerLagSecondsOf(follower.name),
      Math.max(0, Number(follower.oldest_seconds ?? 0))
    )
  }

  const connections = yield* sql<{ readonly state: string; readonly count: number }>`
    SELECT coalesce(state, 'unknown') AS state, count(*)::int AS count
    FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1
  `.pipe(Effect.orElseSucceed(() => []))
  for (const state of ["active", "idle", "idle in transaction"]) {
    const count = connections.find((row) => row.state === state)?.count ?? 0
    yield* Metric.update(Metrics.databaseConnectionsOf(state.replaceAll(" ", "_")), count)
  }
}).pipe(
  Effect.catch((error) => Effect.logDebug("metrics: could not sample the database gauges", error)),
  hotSpan("OperationalGauges.sample")
)
