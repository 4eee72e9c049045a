import { inject } from "vitest"
import { fileDatabaseOnServer, onPostgresServer } from "../../../../scripts/test-file-database.ts"

/**
 * A database of the calling test file's own on the run's Postgres server, dropped after its tests:
 * for tests that read the database's own statistics, which other files' traffic would disturb.
 * On the embedded Postgres (one database) the file uses the run's database.
 */
export const ownDatabaseUrl = (): Promise<string> =>
  onPostgresServer ? fileDatabaseOnServer() : Promise.resolve(inject("databaseUrl"))
