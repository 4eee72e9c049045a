import { randomBytes } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import { Effect, Exit, Redacted, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, inject } from "vitest"
import { EmbeddedPostgres } from "../src/EmbeddedPostgres.ts"

/**
 * A database of the calling test file's own, dropped after its tests. Every `serve` process works
 * every conversation it finds in its database (runners of a cluster: every conversation of their
 * shards), so two files' servers on one database would deliver each other's replies too. Without
 * DATABASE_URL the file gets an embedded Postgres of its own.
 */
export const fileDatabaseUrl = async (): Promise<string> => {
  const shared = inject("databaseUrl")
  if (process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === "") {
    // The embedded Postgres holds one database: the file gets an embedded Postgres of its own.
    const scope = Effect.runSync(Scope.make())
    afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))
    const embedded = await Effect.runPromise(
      EmbeddedPostgres.start({ memory: true }).pipe(Scope.provide(scope))
    )
    return embedded.url
  }
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
