import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Fiber, Layer, Metric, Random, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import * as Database from "../src/Database.ts"
import { type AppendResult, EventStore, type ExpectedVersion, type NewEvent } from "../src/EventStore.ts"

const TestLayer = EventStore.layer.pipe(
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 12 }))
)

const newEvent = (data: unknown = { n: 1 }, eventId: string = randomUUID()): NewEvent => ({
  eventId,
  type: "Tested",
  data
})
const streamName = () => `group-${randomUUID()}`

/** What one append must answer, whatever batch it lands in. */
type Expected =
  | { readonly _tag: "Appended"; readonly version: number }
  | { readonly _tag: "WrongExpectedVersion"; readonly actual: number }
  | { readonly _tag: "DuplicateEventId" }
  | { readonly _tag: "SqlError" }
  /** Two appends racing for the same thing: exactly one of the pair wins. */
  | {
      readonly _tag: "OneOf"
      readonly pair: number
      readonly loser: "WrongExpectedVersion" | "DuplicateEventId"
    }

interface Case {
  readonly streamId: string
  readonly expected: ExpectedVersion
  readonly events: ReadonlyArray<NewEvent>
  readonly outcome: Expected
}

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("EventStore group commit", (it) => {
  it.effect(
    "many concurrent appends, some conflicting, duplicate or refused, each get exactly their own answer",
    () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const sql = yield* SqlClient.SqlClient

        // Streams that already hold one event, and an event id already in the log.
        const existing = Array.from({ length: 40 }, streamName)
        for (const stream of existing) yield* store.append(stream, "no_stream", [newEvent()])
        const takenId = randomUUID()
        yield* store.append(streamName(), "no_stream", [newEvent({}, takenId)])

        const cases: Array<Case> = []
        for (let i = 0; i < 60; i++) {
          const size = 1 + (i % 3)
          cases.push({
            streamId: streamName(),
            expected: "no_stream",
            events: Array.from({ length: size }, () => newEvent({ i })),
            outcome: { _tag: "Appended", version: size }
          })
        }
        existing.forEach((streamId, i) => {
          cases.push(
            i % 4 === 0
              ? {
                  streamId,
                  expected: 0,
                  events: [newEvent()],
                  outcome: { _tag: "WrongExpectedVersion", actual: 1 }
                }
              : i % 4 === 1
                ? {
                    streamId,
                    expected: 1,
                    events: [newEvent(), newEvent()],
                    outcome: { _tag: "Appended", version: 3 }
                  }
                : i % 4 === 2
                  ? {
                      streamId,
                      expected: "any",
                      events: [newEvent()],
                      outcome: { _tag: "Appended", version: 2 }
                    }
                  : {
                      streamId,
                      expected: 7,
                      events: [newEvent()],
                      outcome: { _tag: "WrongExpectedVersion", actual: 1 }
                    }
          )
        })
        for (let i = 0; i < 10; i++) {
          cases.push({
            streamId: streamName(),
            expected: "no_stream",
            events: [newEvent(), newEvent({}, takenId)],
            outcome: { _tag: "DuplicateEventId" }
          })
          // Postgres refuses NUL in jsonb: the statement fails, the neighbours must not.
          if (i % 3 === 0)
            cases.push({
              streamId: streamName(),
              expected: "no_stream",
              events: [newEvent({ text: "a\u0000b" })],
              outcome: { _tag: "SqlError" }
            })
        }
        for (let pair = 0; pair < 15; pair++) {
          const sameStream = streamName()
          for (let k = 0; k < 2; k++) {
            cases.push({
              streamId: sameStream,
              expected: "no_stream",
              events: [newEvent({ pair, k })],
              outcome: { _tag: "OneOf", pair, loser: "WrongExpectedVersion" }
            })
          }
          const sharedId = randomUUID()
          for (let k = 0; k < 2; k++) {
            cases.push({
              streamId: streamName(),
              expected: "no_stream",
              events: [newEvent({ pair, k }, sharedId)],
              outcome: { _tag: "OneOf", pair: 100 + pair, loser: "DuplicateEventId" }
            })
          }
        }
        const shuffled = yield* Random.shuffle(cases)

        const exits = yield* Effect.forEach(
          shuffled,
          (c) => Effect.exit(store.append(c.streamId, c.expected, c.events)),
          { concurrency: "unbounded" }
        )

        const pairs = new Map<number, Array<Exit.Exit<AppendResult, unknown>>>()
        const acknowledged: Array<{ readonly c: Case; readonly result: AppendResult }> = []
        shuffled.forEach((c, i) => {
          const exit = exits[i]!
          if (Exit.isSuccess(exit)) acknowledged.push({ c, result: exit.value })
          const outcome = c.outcome
          switch (outcome._tag) {
            case "Appended":
              assert.isTrue(Exit.isSuccess(exit), `${c.streamId} should have been appended`)
              assert.strictEqual(Exit.isSuccess(exit) && exit.value.version, outcome.version)
              break
            case "OneOf": {
              const seen = pairs.get(outcome.pair) ?? []
              seen.push(exit)
              pairs.set(outcome.pair, seen)
              if (Exit.isFailure(exit)) {
                const error = exit.cause.reasons[0]
                assert.strictEqual(error?._tag === "Fail" && error.error._tag, outcome.loser)
              }
              break
            }
            default: {
              assert.isTrue(Exit.isFailure(exit), `${c.streamId} should have failed with ${outcome._tag}`)
              const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
              assert.strictEqual(error?._tag === "Fail" && error.error._tag, outcome._tag)
              if (outcome._tag === "WrongExpectedVersion" && error?._tag === "Fail") {
                assert.strictEqual((error.error as { actual: number }).actual, outcome.actual)
              }
            }
          }
        })
        for (const [pair, seen] of pairs) {
          assert.strictEqual(seen.length, 2)
          assert.strictEqual(seen.filter(Exit.isSuccess).length, 1, `pair ${pair}: exactly one wins`)
        }

        // Every acknowledged append is in the log exactly as answered; nothing refused is.
        const ids = shuffled
          .flatMap((c) => c.events.map((event) => event.eventId))
          .filter((id) => id !== takenId)
        const rows = yield* sql<{
          event_id: string
          stream_id: string
          version: number
          position: string
          tx: string
        }>`
          SELECT event_id::text, stream_id, version, position::text, transaction_id::text AS tx
          FROM events WHERE event_id::text IN ${sql.in(ids)}
        `
        const byId = new Map(rows.map((row) => [row.event_id, row]))
        let stored = 0
        for (const { c, result } of acknowledged) {
          c.events.forEach((event, k) => {
            const row = byId.get(event.eventId)
            assert.isDefined(row, `acknowledged event ${event.eventId} is in the log`)
            assert.strictEqual(row?.stream_id, c.streamId)
            assert.strictEqual(row?.version, result.version - c.events.length + 1 + k)
            assert.strictEqual(Number(row?.position), result.positions[k])
            stored++
          })
        }
        assert.strictEqual(rows.length, stored, "no event of a refused append was written")

        // And appends are committed together: a burst of clean appends (the refused ones above cost
        // statements of their own while they are split out) takes far fewer transactions than appends.
        const burst = Array.from({ length: 100 }, () => ({ streamId: streamName(), event: newEvent() }))
        yield* Effect.forEach(burst, (item) => store.append(item.streamId, "no_stream", [item.event]), {
          concurrency: "unbounded"
        })
        const burstRows = yield* sql<{ tx: string }>`
          SELECT transaction_id::text AS tx FROM events
          WHERE event_id::text IN ${sql.in(burst.map((item) => item.event.eventId))}
        `
        assert.strictEqual(burstRows.length, burst.length)
        const transactions = new Set(burstRows.map((row) => row.tx)).size
        assert.isBelow(transactions, burst.length / 2)
      })
  )

  it.effect("appends still queued when the store closes are answered, none left waiting", () =>
    Effect.gen(function* () {
      // A store of its own (not the suite's memoized one), to close while appends wait.
      const scope = yield* Scope.make()
      const store = Context.get(yield* Layer.buildWithScope(Layer.fresh(EventStore.layer), scope), EventStore)
      const fibers = yield* Effect.forEach(Array.from({ length: 300 }, streamName), (streamId) =>
        Effect.forkChild(store.append(streamId, "no_stream", [newEvent()]))
      )
      // Every append is queued (each forked fiber runs up to its wait) and the writers have taken
      // at most 3 x 64 of them when the store closes.
      yield* Effect.yieldNow
      yield* Scope.close(scope, Exit.void)
      // Without the answers on close, the appends left in the queue would wait forever.
      const exits = yield* Fiber.awaitAll(fibers).pipe(Effect.timeout("10 seconds"))
      const interrupted = exits.filter((exit) => Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      assert.strictEqual(
        exits.filter(Exit.isSuccess).length + interrupted.length,
        exits.length,
        "each append committed or was interrupted"
      )
      assert.isAbove(interrupted.length, 0)
    })
  )
  it.effect("an append whose caller stops waiting before it is sent is taken back, not committed", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const [kept, dropped] = [streamName(), streamName()]
      const keptFiber = yield* Effect.forkChild(store.append(kept, "no_stream", [newEvent()]), {
        startImmediately: true
      })
      const droppedFiber = yield* Effect.forkChild(store.append(dropped, "no_stream", [newEvent()]), {
        startImmediately: true
      })
      // Both wait for the next turn of the event loop, where their group commit starts; one
      // caller gives up before it.
      yield* Fiber.interrupt(droppedFiber)
      const appended = yield* Fiber.join(keptFiber)
      assert.strictEqual(appended.version, 1)
      assert.strictEqual(yield* store.streamVersion(dropped), 0)
      // The stream is still free: the append taken back left nothing behind.
      assert.strictEqual((yield* store.append(dropped, "no_stream", [newEvent()])).version, 1)
    })
  )

  it.effect("group commits count their appends, refusals and events in the metrics", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const counter = (id: string, result?: string) =>
        Metric.snapshot.pipe(
          Effect.map((metrics) =>
            metrics
              .filter(
                (metric) => metric.id === id && (result === undefined || metric.attributes?.result === result)
              )
              .reduce((sum, metric) => sum + (metric.type === "Counter" ? Number(metric.state.count) : 0), 0)
          )
        )
      const counts = Effect.all({
        committed: counter("messaging_api_event_store_appends_total", "committed"),
        refused: counter("messaging_api_event_store_appends_total", "refused"),
        events: counter("messaging_api_event_store_events_appended_total")
      })
      const before = yield* counts
      const streams = Array.from({ length: 10 }, streamName)
      // Ten appends of two events each at once (group commits), then one refused (a conflict).
      yield* Effect.forEach(
        streams,
        (stream) => store.append(stream, "no_stream", [newEvent(), newEvent()]),
        {
          concurrency: "unbounded"
        }
      )
      yield* Effect.exit(store.append(streams[0]!, "no_stream", [newEvent()]))
      const after = yield* counts
      assert.deepStrictEqual(
        { committed: after.committed - before.committed, refused: after.refused - before.refused },
        { committed: 10, refused: 1 }
      )
      assert.strictEqual(after.events - before.events, 20)
    })
  )
})
