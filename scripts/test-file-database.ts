import { afterAll, inject } from "vitest"
import { createDatabase, uniqueName } from "./postgres-databases.ts"

/** Whether the test run is on a Postgres server (DATABASE_URL), rather than the embedded one. */
export const onPostgresServer = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== ""

/**
 * A database of the calling test file's own on the run's Postgres server, dropped after its tests:
 * for files whose tests other files' data or traffic would disturb. Only on a Postgres server (the
 * embedded Postgres holds one database): the caller says what the file gets there instead.
 */
export const fileDatabaseOnServer = async (): Promise<string> => {
  const database = await createDatabase(inject("databaseUrl"), uniqueName("messaging_api_file"))
  afterAll(database.drop)
  return database.url
}
