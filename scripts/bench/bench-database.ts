import { randomBytes } from "node:crypto"
import { type CreatedDatabase, createDatabase, query } from "../postgres-databases.ts"

/**
 * The bench's databases: each measurement gets a fresh one on the local Postgres
 * (`DATABASE_URL`, or the default below), dropped when it is done, so no measurement sees
 * another's conversations or pending work. Names carry the bench's pid: a run that was killed
 * before it could drop its databases has them dropped by the next run.
 */

export const serverUrl =
  process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== ""
    ? process.env.DATABASE_URL
    : "postgres://postgres@127.0.0.1:5432/postgres"

const prefix = "messaging_api_bench_"
const runId = `${process.pid}_${randomBytes(3).toString("hex")}`

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Drops the databases of bench runs whose process is gone. */
export const dropAbandonedDatabases = async (): Promise<ReadonlyArray<string>> => {
  const rows = await query<{ datname: string }>(
    serverUrl,
    `SELECT datname FROM pg_database WHERE datname LIKE '${prefix}%'`
  )
  const abandoned = rows
    .map((row) => row.datname)
    .filter((name) => {
      const pid = Number(/^messaging_api_bench_(\d+)_/.exec(name)?.[1])
      return Number.isInteger(pid) && pid !== process.pid && !isAlive(pid)
    })
  for (const name of abandoned) await query(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  return abandoned
}

export const createBenchDatabase = async (label: string): Promise<CreatedDatabase> => {
  const name = `${prefix}${runId}_${label.replace(/[^a-z0-9]/gi, "_").toLowerCase()}`
  await query(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  return createDatabase(serverUrl, name)
}

export const postgresVersion = async (): Promise<string> => {
  const rows = await query<{ version: string }>(
    serverUrl,
    "SELECT current_setting('server_version') AS version"
  )
  return rows[0]?.version ?? "unknown"
}
