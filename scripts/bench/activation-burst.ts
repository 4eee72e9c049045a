import { ConversationSnapshots, Database, EventStore, type Ids } from "@messaging-api/domain"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { createBenchDatabase } from "./bench-database.ts"
import { insertVersions, uuidOf } from "./replay.ts"

/**
 * What waking many conversations at once costs (`ConversationSnapshots.load`, as actors do it
 * when the schedule finds many due after a restart, or when a burst of messages opens many new
 * conversations): CONVERSATIONS conversations of 9 events each (written with SQL, as the replay
 * bench writes its log), all loaded CONCURRENCY at a time, in ROUNDS rounds. Prints each round's
 * time, the process's CPU per activation and the transactions Postgres counted for the database
 * (its statistics are read after a pause, since a backend reports them about once a second).
 * Alternate runs in two worktrees to compare two versions of the code (item 23 of
 * docs/PERFORMANCE.md).
 *
 *   node scripts/bench/activation-burst.ts [CONVERSATIONS=3000] [CONCURRENCY=64] [ROUNDS=4]
 */

const settings = Object.fromEntries(process.argv.slice(2).map((arg) => arg.split("=", 2) as [string, string]))
const conversations = Number(settings.CONVERSATIONS ?? "3000")
const concurrency = Number(settings.CONCURRENCY ?? "64")
const rounds = Number(settings.ROUNDS ?? "4")

const database = await createBenchDatabase("activation")
const program = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const snapshots = yield* ConversationSnapshots.ConversationSnapshots
  yield* insertVersions(conversations, 1, 9, uuidOf("installation"))
  yield* sql.unsafe("VACUUM ANALYZE events")
  const ids = Array.from(
    { length: conversations },
    (_, i) => uuidOf(`conversation${i + 1}`) as Ids.ConversationId
  )
  const transactions = Effect.gen(function* () {
    yield* Effect.sleep("1200 millis")
    yield* sql`SELECT pg_stat_clear_snapshot()`
    const [row] = yield* sql<{ readonly commits: string }>`
      SELECT xact_commit::text AS commits FROM pg_stat_database WHERE datname = current_database()
    `
    return Number(row?.commits ?? 0)
  })
  for (let round = 0; round < rounds; round++) {
    const before = yield* transactions
    const cpu = process.cpuUsage()
    const start = performance.now()
    const loaded = yield* Effect.forEach(ids, (id) => snapshots.load(id), { concurrency })
    const ms = performance.now() - start
    const used = process.cpuUsage(cpu)
    const after = yield* transactions
    if (loaded.some((one) => one.version !== 9)) throw new Error("a conversation loaded at the wrong version")
    // The two statistics reads of `transactions` are transactions too.
    console.log(
      `round ${round}: ${conversations} activations, ${concurrency} at a time: ${ms.toFixed(0)} ms, ` +
        `${((used.user + used.system) / conversations).toFixed(0)} µs of CPU each, ` +
        `${after - before - 2} transactions`
    )
  }
}).pipe(
  Effect.provide(
    ConversationSnapshots.ConversationSnapshots.layer.pipe(
      Layer.provideMerge(EventStore.EventStore.layer),
      Layer.provideMerge(Database.layer({ url: database.url }))
    )
  )
)

try {
  await Effect.runPromise(program)
} finally {
  await database.drop()
}
process.exit(0)
