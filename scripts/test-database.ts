/**
 * Vitest global setup: every test run gets a database of its own.
 * - DATABASE_URL set: a uniquely named database is created on that server and dropped at the end.
 * - DATABASE_URL unset: an embedded Postgres (PGlite) is started for the run.
 * Tests read the URL with `inject("databaseUrl")`.
 */
import type { TestProject } from "vitest/node"
import { startEmbeddedTestDatabase } from "./embedded-test-database.ts"
import { createDatabase, uniqueName } from "./postgres-databases.ts"

export default async function setup(project: TestProject) {
  const serverUrl = process.env.DATABASE_URL
  if (serverUrl === undefined || serverUrl === "") {
    const embedded = await startEmbeddedTestDatabase()
    project.provide("databaseUrl", embedded.url)
    return embedded.stop
  }
  const database = await createDatabase(serverUrl, uniqueName("messaging_api_test"))
  project.provide("databaseUrl", database.url)
  return database.drop
}
