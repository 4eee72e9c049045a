import { PgClient } from "@effect/sql-pg"
import { ManagedRuntime, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { serverUrl } from "./bench-database.ts"

/**
 * What the service's database connections are doing, sampled from pg_stat_activity every
 * 100 ms while a step runs: how many are executing a statement, idle inside a transaction, or
 * idle, and how many are waiting on a lock. A pool that is always busy means requests queue
 * for a connection.
 */

export interface ConnectionActivity {
  readonly samples: number
  readonly connections: number
  readonly active: number
  readonly idleInTransaction: number
  readonly idle: number
  readonly waitingOnLock: number
}

export const sampleConnections = (database: string) => {
  const runtime = ManagedRuntime.make(PgClient.layer({ url: Redacted.make(serverUrl), maxConnections: 1 }))
  const totals = { samples: 0, connections: 0, active: 0, idleInTransaction: 0, idle: 0, waitingOnLock: 0 }
  let stopped = false
  const loop = (async () => {
    const sql = await runtime.runPromise(SqlClient.SqlClient)
    while (!stopped) {
      const rows = await runtime.runPromise(
        sql<{ state: string | null; lock: boolean; count: number }>`
          SELECT state, wait_event_type = 'Lock' AS lock, count(*)::int AS count FROM pg_stat_activity
          WHERE datname = ${database} AND pid <> pg_backend_pid() AND backend_type = 'client backend'
          GROUP BY 1, 2
        `
      )
      totals.samples++
      for (const row of rows) {
        totals.connections += row.count
        if (row.state === "active") totals.active += row.count
        else if (row.state?.startsWith("idle in transaction")) totals.idleInTransaction += row.count
        else if (row.state === "idle") totals.idle += row.count
        if (row.lock) totals.waitingOnLock += row.count
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })()
  return {
    stop: async (): Promise<ConnectionActivity> => {
      stopped = true
      try {
        await loop
      } finally {
        await runtime.dispose()
      }
      const mean = (value: number) => Math.round((value / Math.max(1, totals.samples)) * 10) / 10
      return {
        samples: totals.samples,
        connections: mean(totals.connections),
        active: mean(totals.active),
        idleInTransaction: mean(totals.idleInTransaction),
        idle: mean(totals.idle),
        waitingOnLock: mean(totals.waitingOnLock)
      }
    }
  }
}
