import { Console, Effect, Schema } from "effect"
import { Command } from "effect/cli"
import { SqlClient } from "effect/sql"
import { DatabaseWithConfig } from "../DatabaseLive.ts"
import { json } from "./JsonFlag.ts"
import { formatTable } from "./TextTable.ts"

/**
 * `messaging-api cluster`: the runners registered in the database (processes started with
 * `CLUSTER_PORT`) and the shards each reports it holds. A runner that died stays listed, with an
 * old heartbeat and its shards as last reported, until its address is used again.
 */

export const RunnerRow = Schema.Struct({
  runner: Schema.String,
  healthy: Schema.Boolean,
  lastHeartbeat: Schema.String,
  /** The shards the runner reported holding, and when it last reported. */
  shards: Schema.Array(Schema.Int),
  shardsReportedAt: Schema.NullOr(Schema.String)
})
export type RunnerRow = typeof RunnerRow.Type

const encodeRows = Schema.encodeSync(Schema.fromJsonString(Schema.Array(RunnerRow)))

/** `[1,2,3,7,9,10]` → `1-3,7,9-10` */
export const formatRanges = (shards: ReadonlyArray<number>): string => {
  const parts: Array<string> = []
  let start: number | undefined
  let previous: number | undefined
  for (const shard of [...shards].sort((a, b) => a - b)) {
    if (start !== undefined && previous !== undefined && shard === previous + 1) {
      previous = shard
      continue
    }
    if (start !== undefined) parts.push(start === previous ? `${start}` : `${start}-${previous}`)
    start = shard
    previous = shard
  }
  if (start !== undefined) parts.push(start === previous ? `${start}` : `${start}-${previous}`)
  return parts.join(",")
}

const runners = Effect.gen(function* () {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const [exists] = yield* sql<{
    exists: boolean
  }>`SELECT to_regclass('cluster_runners') IS NOT NULL AS exists`
  if (exists?.exists !== true) return []
  const rows = yield* sql<{
    runner: string
    healthy: boolean
    last_heartbeat: string
    shards: ReadonlyArray<number> | null
    reported_at: string | null
  }>`
    SELECT r.address AS runner, r.healthy,
           to_char(r.last_heartbeat, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_heartbeat,
           s.shards,
           to_char(s.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS reported_at
    FROM cluster_runners r
    LEFT JOIN cluster_runner_shards s ON s.runner = r.address
    ORDER BY r.address
  `
  return rows.map(
    (row): RunnerRow => ({
      runner: row.runner,
      healthy: row.healthy,
      lastHeartbeat: row.last_heartbeat,
      shards: row.shards ?? [],
      shardsReportedAt: row.reported_at
    })
  )
})

export const clusterCommand = Command.make(
  "cluster",
  {
    json
  },
  Effect.fn("ClusterCommand")(function* ({ json }) {
    const found = yield* runners.pipe(Effect.provide(DatabaseWithConfig))
    if (json) return yield* Console.log(encodeRows(found))
    if (found.length === 0) {
      return yield* Console.log(
        "No runners registered (a process run with CLUSTER_PORT registers while it runs)."
      )
    }
    yield* Console.log(
      formatTable(
        ["RUNNER", "HEALTHY", "LAST HEARTBEAT", "SHARDS", "SHARD IDS"],
        found.map((row) => [
          row.runner,
          row.healthy ? "yes" : "no",
          row.lastHeartbeat,
          String(row.shards.length),
          formatRanges(row.shards) || "-"
        ])
      )
    )
  })
).pipe(
  Command.withDescription(
    "List the cluster's runners and the shards each holds (processes run with CLUSTER_PORT)"
  )
)
