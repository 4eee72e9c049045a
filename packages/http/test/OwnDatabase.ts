import { randomBytes } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, inject } from "vitest"

/**
 * A database of the calling test file's own on the run's Postgres server, dropped after its tests:
 * for tests that read the database's own statistics, which other files' traffic would disturb.
 * On the embedded Postgres (one database) the file uses the run's database.
 */
export const ownDatabaseUrl = async (): Promise<string> => {
  const shared = inject("databaseUrl")
  if (process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === "") return shared
  const statement = (text: string) =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(text)
    }).pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(shared), maxConnections: 1 })),
      Effect.runPromise
    )
  const name = `messaging_api_file_${process.pid}_${randomBytes(4).toString("hex")}`
  await statement(`CREATE DATABASE ${name}`)
  afterAll(() => statement(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  const url = new URL(shared)
  url.pathname = `/${name}`
  return url.toString()
}
