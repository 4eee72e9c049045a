import { randomUUID } from "node:crypto"
import { Database, EventStore } from "@messaging-api/domain"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { createBenchDatabase } from "./bench-database.ts"

/**
 * What one append costs the service's process, against the least the same driver needs to store
 * the same rows: `EventStore.append` (the group commit, the expected-version check, its own answer
 * per append) beside a bare multi-row INSERT through the same PgClient, each with CONCURRENCY
 * appends to distinct streams at once (1: one append per statement, as at a low rate; 64: full
 * group commits, as at saturation). Prints user and system CPU per append and the ratio of the
 * two, measured in one process in alternating blocks of 100 rounds, so that both see the same
 * machine speed (run one after the other, their ratio moved by ±20 % between runs); alternate
 * runs to compare two versions of the code.
 *
 *   node scripts/bench/append-cost.ts [CONCURRENCY=1] [ROUNDS=2000]
 */

const settings = Object.fromEntries(process.argv.slice(2).map((arg) => arg.split("=", 2) as [string, string]))
const concurrency = Number(settings.CONCURRENCY ?? "1")
const rounds = Number(settings.ROUNDS ?? "2000")

const data = {
  messageId: randomUUID(),
  type: "text",
  payload: { text: "hello there" },
  emittedAt: new Date().toISOString()
}

const program = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  yield* sql`
    CREATE TABLE bare_events (
      position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream_id text NOT NULL,
      version int NOT NULL, event_id uuid NOT NULL UNIQUE, type text NOT NULL, data jsonb NOT NULL,
      UNIQUE (stream_id, version)
    )
  `
  const streams = Array.from({ length: concurrency }, () => `conversation-${randomUUID()}`)
  const storeVersions = new Map(streams.map((stream) => [stream, 0]))
  const bareVersions = new Map(streams.map((stream) => [stream, 0]))

  const storeRound = Effect.forEach(
    streams,
    (stream) =>
      store
        .append(stream, storeVersions.get(stream)!, [
          { eventId: randomUUID(), type: "BotMessageEmitted", data }
        ])
        .pipe(Effect.tap((result) => Effect.sync(() => storeVersions.set(stream, result.version)))),
    { concurrency: "unbounded", discard: true }
  )
  const bareRound = Effect.suspend(() => {
    const rows = JSON.stringify(
      streams.map((stream) => {
        const version = bareVersions.get(stream)! + 1
        bareVersions.set(stream, version)
        return { s: stream, v: version, e: randomUUID(), t: "BotMessageEmitted", d: data }
      })
    )
    return sql`
      INSERT INTO bare_events (stream_id, version, event_id, type, data)
      SELECT s, v, e, t, d FROM jsonb_to_recordset(${rows}::jsonb) AS r(s text, v int, e uuid, t text, d jsonb)
    `
  })

  /** The two in alternating blocks of 100 rounds, so that both see the same machine speed. */
  const blocks = Math.max(1, Math.round(rounds / 100))
  const measure = Effect.gen(function* () {
    const store = { user: 0, system: 0, ms: 0 }
    const bare = { user: 0, system: 0, ms: 0 }
    const block = (round: Effect.Effect<unknown, unknown>, total: typeof store) =>
      Effect.gen(function* () {
        const cpu = process.cpuUsage()
        const start = performance.now()
        for (let i = 0; i < 100; i++) yield* round
        const used = process.cpuUsage(cpu)
        total.user += used.user
        total.system += used.system
        total.ms += performance.now() - start
      })
    for (let i = 0; i < rounds / 4; i++) {
      yield* storeRound // warm-up
      yield* bareRound
    }
    for (let i = 0; i < blocks; i++) {
      yield* block(storeRound, store)
      yield* block(bareRound, bare)
    }
    const appends = blocks * 100 * concurrency
    const figures = (total: typeof store) => ({
      user: total.user / appends,
      system: total.system / appends,
      rate: appends / (total.ms / 1000)
    })
    return { viaStore: figures(store), bare: figures(bare) }
  })
  const line = (label: string, figures: { user: number; system: number; rate: number }) =>
    `${label}: ${figures.user.toFixed(1)} µs user + ${figures.system.toFixed(1)} µs system CPU per append, ` +
    `${Math.round(figures.rate)} appends/s`
  const { viaStore, bare } = yield* measure
  console.log(`${concurrency} append(s) at once, ${blocks * 100} rounds`)
  console.log(line("EventStore.append", viaStore))
  console.log(line("bare INSERT      ", bare))
  console.log(
    `ratio (user + system): ${((viaStore.user + viaStore.system) / (bare.user + bare.system)).toFixed(2)}`
  )
})

const database = await createBenchDatabase("append_cost")
try {
  await Effect.runPromise(
    program.pipe(
      Effect.provide(
        EventStore.EventStore.layer.pipe(Layer.provideMerge(Database.layer({ url: database.url })))
      )
    )
  )
} finally {
  await database.drop()
}
