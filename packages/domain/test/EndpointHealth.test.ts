import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import * as Database from "../src/Database.ts"
import { EndpointHealth } from "../src/EndpointHealth.ts"

/**
 * What the delivery engine asks on every attempt (`current`) is read once per expiry, however many
 * ask at once: askers that come while the read is in flight wait for its answer instead of each
 * taking a connection of the pool for the same row.
 */

const TestLayer = EndpointHealth.layer.pipe(
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 12 }))
)

/**
 * Another transaction holds the table, so that a read of it waits where it can be counted; the
 * count of statements it holds up, and a way to let them go.
 */
const holdTable = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const locked = yield* Deferred.make<number>()
  const release = yield* Deferred.make<void>()
  const holder = yield* Effect.forkChild(
    sql.withTransaction(
      Effect.gen(function* () {
        yield* sql`LOCK TABLE endpoint_health IN ACCESS EXCLUSIVE MODE`
        const [row] = yield* sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`
        yield* Deferred.succeed(locked, row!.pid)
        yield* Deferred.await(release)
      })
    )
  )
  const holderPid = yield* Deferred.await(locked)
  const waiting = sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${holderPid} = ANY (pg_blocking_pids(pid))
  `.pipe(Effect.map((rows) => rows[0]?.n ?? 0))
  const untilWaiting = Effect.gen(function* () {
    while ((yield* waiting) === 0) yield* Effect.sleep(Duration.millis(5))
  })
  const letGo = Effect.andThen(Deferred.succeed(release, undefined), Fiber.join(holder))
  return { waiting, untilWaiting, letGo }
})

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("EndpointHealth.current", (it) => {
  it.effect("reads an endpoint's health once for many askers at once", () =>
    Effect.gen(function* () {
      const health = yield* EndpointHealth
      const installationId = randomUUID()
      const table = yield* holdTable
      // Fewer askers than the pool has connections left (eleven), so that counting still finds one.
      const askers = yield* Effect.forkChild(
        Effect.forEach(Array.from({ length: 8 }), () => health.current(installationId), {
          concurrency: "unbounded"
        })
      )
      yield* table.untilWaiting
      // Askers that each read would all be waiting by now.
      yield* Effect.sleep(Duration.millis(100))
      assert.strictEqual(yield* table.waiting, 1)
      yield* table.letGo
      const answers = yield* Fiber.join(askers)
      assert.deepStrictEqual(
        answers.map((answer) => answer.status),
        Array.from({ length: 8 }, () => "healthy")
      )
    })
  )

  it.effect("answers those waiting for a read even when the asker that started it is interrupted", () =>
    Effect.gen(function* () {
      const health = yield* EndpointHealth
      const installationId = randomUUID()
      const table = yield* holdTable
      const first = yield* Effect.forkChild(health.current(installationId))
      yield* table.untilWaiting
      const second = yield* Effect.forkChild(health.current(installationId))
      const interrupting = yield* Effect.forkChild(Fiber.interrupt(first))
      yield* table.letGo
      assert.strictEqual((yield* Fiber.join(second)).status, "healthy")
      yield* Fiber.join(interrupting)
    })
  )
})
