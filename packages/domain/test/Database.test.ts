import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import * as Database from "../src/Database.ts"

// DATABASE_STATEMENT_TIMEOUT on the pool: Postgres cancels a statement that runs longer, while
// migrations (run by the same layer) are exempt. The service sets it on a Postgres server only (the
// embedded database runs one statement at a time, so its queue is no hung server): so is this test.
const embedded = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === ""

layer(Database.layer({ url: inject("databaseUrl"), maxConnections: 2, statementTimeout: "200 millis" }), {
  timeout: 30_000
})("Database.layer with a statement timeout", (it) => {
  if (embedded) return
  it.effect("cancels a statement that runs past it, and answers the ones within it", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const setting = yield* sql<{ readonly statement_timeout: string }>`SHOW statement_timeout`
      assert.strictEqual(setting[0]!.statement_timeout, "200ms")
      const slow = yield* sql`SELECT pg_sleep(2)`.pipe(Effect.flip)
      assert.strictEqual(slow.reason._tag, "StatementTimeoutError")
      const fast = yield* sql<{ readonly one: number }>`SELECT 1 AS one`
      assert.strictEqual(fast[0]!.one, 1)
    })
  )
})
