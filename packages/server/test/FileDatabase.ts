import { afterAll } from "vitest"
import { startEmbeddedTestDatabase } from "../../../scripts/embedded-test-database.ts"
import { fileDatabaseOnServer, onPostgresServer } from "../../../scripts/test-file-database.ts"

/**
 * A database of the calling test file's own, dropped after its tests. Every `serve` process works
 * every conversation it finds in its database (runners of a cluster: every conversation of their
 * shards), so two files' servers on one database would deliver each other's replies too. Without
 * DATABASE_URL the file gets an embedded Postgres of its own (the embedded Postgres holds one database).
 */
export const fileDatabaseUrl = async (): Promise<string> => {
  if (onPostgresServer) return fileDatabaseOnServer()
  const embedded = await startEmbeddedTestDatabase()
  afterAll(embedded.stop)
  return embedded.url
}
