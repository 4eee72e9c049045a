import { randomUUID } from "node:crypto"
import { assert, describe, it, layer } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Random, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import {
  BotMessageEmitted,
  BotTurnCompleted,
  BotTurnFailed,
  type ConversationEvent,
  ConversationStarted,
  DeliveryAttemptFailed,
  MessageDeadLettered,
  MessageDelivered,
  RedeliveryRequested,
  UserMessageReceived
} from "../src/ConversationEvents.ts"
import { fromRecorded, toNewEvent } from "../src/ConversationStream.ts"
import * as Database from "../src/Database.ts"
import { EventStore, logPositionOf, logStart, type NewEvent, type RecordedEvent } from "../src/EventStore.ts"
import type { ConversationId, InstallationId, MessageId, UserId } from "../src/Ids.ts"

const TestLayer = EventStore.layer.pipe(
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 12 }))
)

const newEvent = (type = "Tested", data: unknown = { n: 1 }): NewEvent => ({
  eventId: randomUUID(),
  type,
  data
})
const streamName = () => `test-${randomUUID()}`

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("EventStore", (it) => {
  it.effect("appends and reads a stream in order", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const stream = streamName()
      const first = yield* store.append(stream, "no_stream", [newEvent("A"), newEvent("B")])
      assert.strictEqual(first.version, 2)
      const second = yield* store.append(stream, 2, [newEvent("C")])
      assert.strictEqual(second.version, 3)
      const events = yield* Stream.runCollect(store.readStream(stream))
      assert.deepStrictEqual(
        events.map((event) => [event.version, event.type]),
        [
          [1, "A"],
          [2, "B"],
          [3, "C"]
        ]
      )
      const fromTwo = yield* Stream.runCollect(store.readStream(stream, 2))
      assert.deepStrictEqual(
        fromTwo.map((event) => event.version),
        [2, 3]
      )
    })
  )

  it.effect("refuses a wrong expected version with the actual one, writing nothing", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const stream = streamName()
      yield* store.append(stream, "no_stream", [newEvent()])
      const stale = yield* Effect.flip(store.append(stream, 0, [newEvent()]))
      assert.strictEqual(stale._tag, "WrongExpectedVersion")
      assert.strictEqual(stale._tag === "WrongExpectedVersion" && stale.actual, 1)
      const ahead = yield* Effect.flip(store.append(stream, 5, [newEvent()]))
      assert.strictEqual(ahead._tag, "WrongExpectedVersion")
      const exists = yield* Effect.flip(store.append(stream, "no_stream", [newEvent()]))
      assert.strictEqual(exists._tag, "WrongExpectedVersion")
      assert.strictEqual(yield* store.streamVersion(stream), 1)
      const any = yield* store.append(stream, "any", [newEvent()])
      assert.strictEqual(any.version, 2)
    })
  )

  it.effect("lets exactly one of many concurrent writers win each version, without gaps or duplicates", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const stream = streamName()
      const rounds = 10
      const writers = 16
      for (let round = 0; round < rounds; round++) {
        const results = yield* Effect.forEach(
          Array.from({ length: writers }, (_, i) => i),
          (i) => Effect.result(store.append(stream, round, [newEvent("Raced", { round, writer: i })])),
          { concurrency: "unbounded" }
        )
        const winners = results.filter((result) => result._tag === "Success")
        const losers = results.filter((result) => result._tag === "Failure")
        assert.strictEqual(winners.length, 1, `round ${round}: exactly one winner`)
        for (const loser of losers) {
          assert.strictEqual(loser._tag === "Failure" && loser.failure._tag, "WrongExpectedVersion")
        }
      }
      const versions = (yield* Stream.runCollect(store.readStream(stream))).map((event) => event.version)
      assert.deepStrictEqual(
        versions,
        Array.from({ length: rounds }, (_, i) => i + 1)
      )
    })
  )

  it.effect("concurrent writers with expected version any never collide or leave gaps", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const stream = streamName()
      yield* Effect.forEach(
        Array.from({ length: 20 }, () => newEvent()),
        (event) => store.append(stream, "any", [event]),
        { concurrency: 8 }
      )
      const versions = (yield* Stream.runCollect(store.readStream(stream))).map((event) => event.version)
      assert.deepStrictEqual(
        versions,
        Array.from({ length: 20 }, (_, i) => i + 1)
      )
    })
  )

  it.effect("stores an event id once: a second append of it is a typed error and adds no row", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const sql = yield* SqlClient.SqlClient
      const event = newEvent()
      const stream = streamName()
      yield* store.append(stream, "no_stream", [event])
      const again = yield* Effect.flip(store.append(stream, 1, [event]))
      assert.strictEqual(again._tag, "DuplicateEventId")
      const elsewhere = yield* Effect.flip(store.append(streamName(), "no_stream", [newEvent(), event]))
      assert.strictEqual(elsewhere._tag, "DuplicateEventId")
      const rows = yield* sql<{
        n: number
      }>`SELECT count(*)::int AS n FROM events WHERE event_id = ${event.eventId}`
      assert.strictEqual(rows[0]?.n, 1)
      assert.strictEqual(yield* store.streamVersion(stream), 1)
      const found = yield* store.readEvents([event.eventId])
      assert.strictEqual(found[0]?.streamId, stream)
    })
  )

  it.effect("round-trips every conversation event type", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const conversationId = randomUUID() as ConversationId
      const messageId = randomUUID() as MessageId
      const botMessageId = randomUUID() as MessageId
      const at = "2026-11-25T12:00:00.000Z"
      const events: ReadonlyArray<ConversationEvent> = [
        new ConversationStarted({
          conversationId,
          installationId: randomUUID() as InstallationId,
          externalConversationId: "c-1",
          startedAt: at
        }),
        new UserMessageReceived({
          messageId,
          externalMessageId: "m-1",
          userId: randomUUID() as UserId,
          externalUserId: "u-1",
          type: "text",
          text: "héllo ✓",
          payload: { text: "héllo ✓", nested: [1, null, { deep: true }] },
          fingerprint: "abc",
          receivedAt: at
        }),
        new BotTurnFailed({
          userMessageId: messageId,
          attempt: 1,
          reason: "timeout",
          retryAt: at,
          failedAt: at
        }),
        new BotMessageEmitted({
          messageId: botMessageId,
          inReplyTo: messageId,
          type: "card",
          payload: { title: "t" },
          emittedAt: at
        }),
        new BotTurnCompleted({ userMessageId: messageId, messageCount: 1, completedAt: at }),
        new DeliveryAttemptFailed({
          messageId: botMessageId,
          attempt: 1,
          status: null,
          error: "ECONNRESET",
          durationMs: 12.5,
          nextAttemptAt: at,
          failedAt: at
        }),
        new MessageDeadLettered({
          messageId: botMessageId,
          attempt: 2,
          status: 404,
          reason: "HTTP 404",
          deadLetteredAt: at
        }),
        new RedeliveryRequested({ messageId: botMessageId, requestedAt: at }),
        new MessageDelivered({
          messageId: botMessageId,
          attempt: 1,
          status: 200,
          durationMs: 4,
          deliveredAt: at
        })
      ]
      const stream = `conversation-${conversationId}`
      yield* store.append(
        stream,
        "no_stream",
        events.map((event) => toNewEvent(event, randomUUID(), { causation: "test" }))
      )
      const recorded = yield* Stream.runCollect(store.readStream(stream))
      assert.deepStrictEqual(recorded[0]?.metadata, { causation: "test" })
      const decoded = yield* Effect.forEach(recorded, fromRecorded)
      assert.deepStrictEqual(decoded, events)
      assert.deepStrictEqual(
        recorded.map((event) => event.type),
        events.map((event) => event._tag)
      )
    })
  )

  it.effect("reports an unknown event type in the log as a typed error", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const stream = streamName()
      yield* store.append(stream, "no_stream", [newEvent("SomethingFromTheFuture", { x: 1 })])
      const [recorded] = yield* Stream.runCollect(store.readStream(stream))
      const error = yield* Effect.flip(fromRecorded(recorded!))
      assert.strictEqual(error._tag, "UnknownEventType")
      const badStream = streamName()
      yield* store.append(badStream, "no_stream", [newEvent("MessageDelivered", { nope: true })])
      const [bad] = yield* Stream.runCollect(store.readStream(badStream))
      const malformed = yield* Effect.flip(fromRecorded(bad!))
      assert.strictEqual(malformed._tag, "MalformedEvent")
    })
  )

  it.effect("a follower in another process is woken by NOTIFY, not by polling", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const sql = yield* SqlClient.SqlClient
      // Another process: its own pool, its own LISTEN, and no in-process wake-ups from `store`
      // (`Layer.fresh`: the test's own EventStore layer would otherwise be shared).
      const other = Context.get(
        yield* Layer.build(
          Layer.fresh(EventStore.layer).pipe(
            Layer.provide(Database.layer({ url: inject("databaseUrl"), maxConnections: 2 }))
          )
        ),
        EventStore
      )
      const start = yield* lastPosition
      const grouped = streamName()
      const transactional = streamName()
      const seen = yield* Deferred.make<ReadonlyArray<string>>()
      const streams = new Set<string>()
      // It polls once an hour: only a notification can bring it these events within the test.
      yield* other.subscribe(start, { pollInterval: "1 hour" }).pipe(
        Stream.runForEach((event) =>
          Effect.suspend(() => {
            if (event.streamId === grouped || event.streamId === transactional) streams.add(event.streamId)
            return streams.size === 2 ? Deferred.succeed(seen, [...streams]) : Effect.void
          })
        ),
        Effect.forkChild
      )
      // A group commit's append, then one inside the caller's transaction.
      yield* store.append(grouped, "no_stream", [newEvent("Grouped")])
      yield* sql.withTransaction(store.append(transactional, "no_stream", [newEvent("InTransaction")]))
      // More appends until it has both, each notified in turn: its LISTEN may not be up yet, a read
      // may find the log held behind another test's open transaction, and an append inside a
      // caller's transaction notifies before that transaction commits.
      const nudges = streamName()
      yield* store
        .append(nudges, "any", [newEvent("Nudge")])
        .pipe(Effect.andThen(Effect.sleep("200 millis")), Effect.forever, Effect.forkChild)
      assert.sameMembers([...(yield* Deferred.await(seen))], [grouped, transactional])
    })
  )

  it.effect("a follower of the global log never skips a late commit nor sees an event twice", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const sql = yield* SqlClient.SqlClient
      const start = yield* lastPosition
      const seen: Array<RecordedEvent> = []
      const follower = yield* store.subscribe(start, { pollInterval: "20 millis", batchSize: 7 }).pipe(
        Stream.runForEach((event) => Effect.sync(() => seen.push(event))),
        Effect.forkChild
      )

      // A slow transaction takes its position first, a later one commits before it.
      const slowStream = streamName()
      const fastStream = streamName()
      const inserted = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const slow = yield* sql
        .withTransaction(
          Effect.gen(function* () {
            yield* store.append(slowStream, "no_stream", [newEvent("Slow")])
            yield* Deferred.succeed(inserted, undefined)
            yield* Deferred.await(release)
          })
        )
        .pipe(Effect.forkChild)
      yield* Deferred.await(inserted)
      // Forked: on a single-session embedded Postgres the second writer waits for the first to commit.
      const fast = yield* store.append(fastStream, "no_stream", [newEvent("Fast")]).pipe(Effect.forkChild)
      yield* Effect.sleep("100 millis")
      assert.isFalse(
        seen.some((event) => event.streamId === fastStream),
        "the later commit must wait behind the open transaction"
      )
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(slow)
      yield* Fiber.join(fast)

      // Then many writers at once, each holding its transaction open for a random time.
      const streams = Array.from({ length: 40 }, streamName)
      yield* Effect.forEach(
        streams,
        (stream) =>
          sql.withTransaction(
            Effect.gen(function* () {
              yield* store.append(stream, "no_stream", [newEvent("Burst"), newEvent("Burst")])
              yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 40)} millis`)
            })
          ),
        { concurrency: 10 }
      )
      const expected = new Set([slowStream, fastStream, ...streams])
      const expectedCount = 2 + streams.length * 2
      yield* Effect.gen(function* () {
        while (seen.filter((event) => expected.has(event.streamId)).length < expectedCount) {
          yield* Effect.sleep("20 millis")
        }
      }).pipe(Effect.timeout("20 seconds"))
      yield* Effect.sleep("100 millis")
      yield* Fiber.interrupt(follower)

      const mine = seen.filter((event) => expected.has(event.streamId))
      assert.strictEqual(mine.length, expectedCount)
      assert.strictEqual(new Set(seen.map((event) => event.eventId)).size, seen.length, "no event twice")
      const slowIndex = mine.findIndex((event) => event.streamId === slowStream)
      const fastIndex = mine.findIndex((event) => event.streamId === fastStream)
      assert.isTrue(slowIndex < fastIndex, "the slow transaction's event comes first once committed")
      // A second reader from the same start sees exactly what the follower saw, in the same order.
      const replayed = yield* Stream.runCollect(store.readAll(start, 5))
      assert.deepStrictEqual(
        replayed.filter((event) => expected.has(event.streamId)).map((event) => event.eventId),
        mine.map((event) => event.eventId)
      )
    })
  )
})

/** A held transaction serialises everything on the single-session embedded Postgres: nothing to read past. */
const embedded = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === ""

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })(
  "EventStore past a long transaction",
  (it) => {
    // (`it.effect.skipIf` would bring the test clock back: the waits below need the real one.)
    if (embedded) return
    it.effect(
      "a follower with a stall bound reads past an open transaction, then gets its events once when it commits",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore
          const sql = yield* SqlClient.SqlClient
          const start = yield* store.head
          const prompt: Array<RecordedEvent> = []
          const strict: Array<RecordedEvent> = []
          yield* store
            .subscribe(start, { pollInterval: "20 millis", stallBound: "100 millis", batchSize: 3 })
            .pipe(
              Stream.runForEach((event) => Effect.sync(() => prompt.push(event))),
              Effect.forkChild
            )
          // The projectors' kind of follower: no stall bound, so it keeps to the log's order.
          yield* store.subscribe(start, { pollInterval: "20 millis" }).pipe(
            Stream.runForEach((event) => Effect.sync(() => strict.push(event))),
            Effect.forkChild
          )

          /** A transaction that runs `body`, says so, and stays open until released (then commits, or rolls back). */
          const hold = <A, E>(body: Effect.Effect<A, E>, ending: "commit" | "rollback") =>
            Effect.gen(function* () {
              const opened = yield* Deferred.make<void>()
              const release = yield* Deferred.make<void>()
              const fiber = yield* sql
                .withTransaction(
                  Effect.gen(function* () {
                    yield* body
                    yield* Deferred.succeed(opened, undefined)
                    yield* Deferred.await(release)
                    if (ending === "rollback") return yield* Effect.fail("rolled back" as const)
                  })
                )
                .pipe(
                  Effect.catch(() => Effect.void),
                  Effect.forkChild
                )
              yield* Deferred.await(opened)
              return Effect.andThen(Deferred.succeed(release, undefined), Fiber.join(fiber))
            })
          const waitFor = (condition: () => boolean) =>
            Effect.gen(function* () {
              while (!condition()) yield* Effect.sleep("20 millis")
            })
          const has = (events: ReadonlyArray<RecordedEvent>, streams: ReadonlyArray<string>) =>
            streams.every((stream) => events.some((event) => event.streamId === stream))

          // A psql left in BEGIN after taking an xid, a writer that appended and holds its transaction,
          // and one that appended and will roll back.
          const heldStream = streamName()
          const abortedStream = streamName()
          const endBare = yield* hold(sql`SELECT pg_current_xact_id()::text`, "commit")
          const endHeld = yield* hold(store.append(heldStream, "no_stream", [newEvent("Held")]), "commit")
          const endAborted = yield* hold(
            store.append(abortedStream, "no_stream", [newEvent("Aborted")]),
            "rollback"
          )

          // Appended meanwhile: the stall-bounded follower gets them while the three stay open.
          const during = Array.from({ length: 7 }, streamName)
          yield* Effect.forEach(during, (stream) => store.append(stream, "no_stream", [newEvent("During")]), {
            concurrency: 3
          })
          yield* waitFor(() => has(prompt, during))
          assert.isFalse(has(strict, during.slice(0, 1)), "the strict follower waits for the horizon")
          assert.isFalse(has(prompt, [heldStream]))

          // The held writer commits: its event comes (once); the aborted one rolls back: nothing.
          yield* endHeld
          yield* waitFor(() => has(prompt, [heldStream]))
          yield* endAborted
          const after = Array.from({ length: 4 }, streamName)
          yield* Effect.forEach(after, (stream) => store.append(stream, "no_stream", [newEvent("After")]))
          yield* waitFor(() => has(prompt, after))
          yield* endBare
          yield* waitFor(() => has(strict, after))
          const last = streamName()
          yield* store.append(last, "no_stream", [newEvent("Last")])
          yield* waitFor(() => has(prompt, [last]) && has(strict, [last]))

          const expected = new Set([heldStream, abortedStream, ...during, ...after, last])
          const mine = (events: ReadonlyArray<RecordedEvent>) =>
            events.filter((event) => expected.has(event.streamId))
          const logOrder = mine(yield* Stream.runCollect(store.readAll(start))).map((event) => event.eventId)
          assert.strictEqual(
            logOrder.length,
            1 + during.length + after.length + 1,
            "the rolled back event is not in the log"
          )
          // Each follower: every event exactly once, nothing of the rolled back transaction.
          for (const events of [prompt, strict]) {
            const ids = mine(events).map((event) => event.eventId)
            assert.strictEqual(new Set(ids).size, ids.length, "no event twice")
            assert.deepStrictEqual([...ids].sort(), [...logOrder].sort(), "no event skipped")
          }
          // The strict follower keeps the log's order (the held event first); the other read past it.
          assert.deepStrictEqual(
            mine(strict).map((event) => event.eventId),
            logOrder
          )
          assert.strictEqual(logOrder[0], mine(strict)[0]!.eventId)
          assert.strictEqual(mine(strict)[0]!.streamId, heldStream)
          assert.isTrue(
            mine(prompt).findIndex((event) => event.streamId === heldStream) >= during.length,
            "the events appended during the transaction came before its own"
          )
        }),
      { timeout: 60_000 }
    )
  }
)

const lastPosition = Effect.gen(function* () {
  const store = yield* EventStore
  const all = yield* Stream.runCollect(store.readAll(logStart))
  const last = all[all.length - 1]
  return last ? logPositionOf(last) : logStart
})

describe("EventStore without a database", () => {
  it("encodes events as type + data", () => {
    const event = new RedeliveryRequested({ messageId: randomUUID() as MessageId, requestedAt: "t" })
    const encoded = toNewEvent(event, "id")
    assert.strictEqual(encoded.type, "RedeliveryRequested")
    assert.deepStrictEqual(encoded.data, { messageId: event.messageId, requestedAt: "t" })
  })
})
