import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Database, EventStore } from "@messaging-api/domain"
import { Effect, Fiber, Layer, Schedule, Stream } from "effect"
import { inject } from "vitest"
import * as LogFanOut from "../src/server/LogFanOut.ts"

/**
 * The shared follower over the real log: every subscriber of a key gets that key's events, a
 * subscriber that does not keep up is ended alone, and the follower stops and starts again with
 * its subscribers.
 */

const TestLayer = EventStore.EventStore.layer.pipe(
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 6 }))
)

const appendTo = (streamId: string, count: number) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    for (let n = 0; n < count; n++) {
      yield* store.append(streamId, "any", [{ eventId: randomUUID(), type: "Tested", data: { n } }])
    }
  })

const fanOut = (buffer: number, keyOf: LogFanOut.LogFanOutOptions["keyOf"] = (event) => event.streamId) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    return yield* LogFanOut.make({
      head: store.head,
      follow: (from) => store.subscribe(from, { pollInterval: "20 millis" }),
      keyOf,
      buffer
    })
  })

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("the shared log follower", (it) => {
  it.effect("hands each key's events to its subscribers only, in order", () =>
    Effect.gen(function* () {
      const feed = yield* fanOut(100)
      const [a, b] = [`test-${randomUUID()}`, `test-${randomUUID()}`]
      const first = yield* feed.subscribe(a)
      const second = yield* feed.subscribe(a)
      const other = yield* feed.subscribe(b)
      yield* appendTo(a, 5)
      yield* appendTo(b, 2)
      const versions = (stream: Stream.Stream<EventStore.RecordedEvent, LogFanOut.FanOutError>, n: number) =>
        stream.pipe(
          Stream.take(n),
          Stream.runCollect,
          Effect.map((events) => events.map((event) => [event.streamId, event.version]))
        )
      const expectedA = [1, 2, 3, 4, 5].map((version) => [a, version])
      assert.deepStrictEqual(yield* versions(first, 5), expectedA)
      assert.deepStrictEqual(yield* versions(second, 5), expectedA)
      assert.deepStrictEqual(yield* versions(other, 2), [
        [b, 1],
        [b, 2]
      ])
    }).pipe(Effect.scoped)
  )

  it.effect("keeps the log's order when some keys are looked up (an Effect) and others are not", () =>
    Effect.gen(function* () {
      // Every other event's key is looked up: those are yielded for, the others handed on at once.
      const feed = yield* fanOut(100, (event) =>
        event.version % 2 === 0
          ? Effect.succeed(event.streamId).pipe(Effect.delay("1 millis"))
          : event.streamId
      )
      const [a, b] = [`test-${randomUUID()}`, `test-${randomUUID()}`]
      const first = yield* feed.subscribe(a)
      const other = yield* feed.subscribe(b)
      yield* appendTo(a, 6)
      yield* appendTo(b, 3)
      const versions = (stream: Stream.Stream<EventStore.RecordedEvent, LogFanOut.FanOutError>, n: number) =>
        stream.pipe(
          Stream.take(n),
          Stream.runCollect,
          Effect.map((events) => events.map((event) => event.version))
        )
      assert.deepStrictEqual(yield* versions(first, 6), [1, 2, 3, 4, 5, 6])
      assert.deepStrictEqual(yield* versions(other, 3), [1, 2, 3])
    }).pipe(Effect.scoped)
  )

  it.effect("ends a subscriber that does not keep up, and only that one", () =>
    Effect.gen(function* () {
      const feed = yield* fanOut(4)
      const key = `test-${randomUUID()}`
      const slow = yield* feed.subscribe(key)
      const fast = yield* feed.subscribe(key)
      const taken: Array<number> = []
      const received = yield* fast.pipe(
        Stream.take(12),
        Stream.runForEach((event) => Effect.sync(() => taken.push(event.version))),
        Effect.forkChild
      )
      // One event at a time, each taken by the fast one before the next: it never has more than one
      // waiting, whatever batches the follower reads, while the slow one's buffer fills up.
      for (let n = 1; n <= 12; n++) {
        yield* appendTo(key, 1)
        while (taken.length < n) yield* Effect.sleep("5 millis")
      }
      yield* Fiber.join(received)
      assert.deepStrictEqual(
        taken,
        Array.from({ length: 12 }, (_, n) => n + 1)
      )
      // The slow one, reading only now: what fitted in its buffer, then the end.
      const seen: Array<number> = []
      const error = yield* slow.pipe(
        Stream.runForEach((event) => Effect.sync(() => seen.push(event.version))),
        Effect.flip
      )
      assert.strictEqual(error._tag, "StreamFellBehind")
      assert.isAtMost(seen.length, 4)
    }).pipe(Effect.scoped)
  )

  it.effect("stops when its last subscriber leaves and starts again from the head with the next", () =>
    Effect.gen(function* () {
      const feed = yield* fanOut(100)
      const key = `test-${randomUUID()}`
      yield* Effect.scoped(
        Effect.gen(function* () {
          const stream = yield* feed.subscribe(key)
          yield* appendTo(key, 1)
          assert.deepStrictEqual(
            (yield* Stream.runCollect(Stream.take(stream, 1))).map((event) => event.version),
            [1]
          )
        })
      )
      // Appended while nobody follows: not for the next subscriber, which starts from the head.
      // The head is the newest position every earlier transaction on the server has committed
      // past, so wait until it passes version 2 (another test's open transaction can hold it back).
      const store = yield* EventStore.EventStore
      const second = yield* store.append(key, "any", [
        { eventId: randomUUID(), type: "Tested", data: { n: 2 } }
      ])
      yield* store.head.pipe(
        Effect.repeat({
          until: (head) => head.position >= second.positions[0]!,
          schedule: Schedule.spaced("10 millis")
        })
      )
      const again = yield* feed.subscribe(key)
      yield* appendTo(key, 1)
      assert.deepStrictEqual(
        (yield* Stream.runCollect(Stream.take(again, 1))).map((event) => event.version),
        [3]
      )
    }).pipe(Effect.scoped)
  )
})
