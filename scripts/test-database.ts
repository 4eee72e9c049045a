/**
 * Vitest global setup: every test run gets a database of its own.
 * - DATABASE_URL set: a uniquely named database is created on that server and dropped at the end.
 * - DATABASE_URL unset: an embedded Postgres (PGlite) is started for the run.
 * Tests read the URL with `inject("databaseUrl")`.
 */
import { randomBytes } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import type { TestProject } from "vitest/node"
import { startEmbeddedTestDatabase } from "./embedded-test-database.ts"

const onServer = <A>(url: string, statement: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.unsafe<A & object>(statement)
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })), Effect.runPromise)

export default async function setup(project: TestProject) {
  const serverUrl = process.env.DATABASE_URL
  if (serverUrl === undefined || serverUrl === "") {
    const embedded = await startEmbeddedTestDatabase()
    project.provide("databaseUrl", embedded.url)
    return embedded.stop
  }
  const name = `messaging_api_test_${process.pid}_${randomBytes(4).toString("hex")}`
  await onServer(serverUrl, `CREATE DATABASE ${name}`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  project.provide("databaseUrl", url.toString())
  return async () => {
    await onServer(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  }
}
