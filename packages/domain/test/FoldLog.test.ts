import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Schedule, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { ConversationStarted, UserMessageReceived } from "../src/ConversationEvents.ts"
import { load, toNewEvent } from "../src/ConversationStream.ts"
import * as Database from "../src/Database.ts"
import { EventStore, logPositionOf } from "../src/EventStore.ts"
import { foldLog } from "../src/FoldLog.ts"
import {
  type ConversationId,
  conversationStream,
  type InstallationId,
  type MessageId,
  type UserId
} from "../src/Ids.ts"

const TestLayer = EventStore.layer.pipe(Layer.provideMerge(Database.layer({ url: inject("databaseUrl") })))

const at = "2026-11-25T12:00:00.000Z"

/** A conversation's start and `messages` user messages. */
const conversationEvents = (conversationId: ConversationId, messages: number) => [
  new ConversationStarted({
    conversationId,
    installationId: randomUUID() as InstallationId,
    externalConversationId: `c-${conversationId}`,
    startedAt: at
  }),
  ...Array.from(
    { length: messages },
    (_, m) =>
      new UserMessageReceived({
        messageId: randomUUID() as MessageId,
        externalMessageId: `m-${m}`,
        userId: randomUUID() as UserId,
        externalUserId: "u",
        type: "text",
        text: `hello ${m}`,
        payload: { text: `hello ${m}` },
        fingerprint: `f${m}`,
        receivedAt: at
      })
  )
]

/**
 * Waits until every transaction up to this one has ended: the fold reads below the xid horizon,
 * which a transaction open anywhere on the server (another test's) holds back.
 */
const belowHorizon = (transactionId: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ passed: boolean }>`
      SELECT pg_snapshot_xmin(pg_current_snapshot()) > ${String(transactionId)}::xid8 AS passed
    `
    if (row?.passed !== true) return yield* Effect.fail("the horizon is still below the appends")
  }).pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 600 }), Effect.orDie)

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("FoldLog.foldLog", (it) => {
  it.effect("folds every conversation of the log to the state load gives for it", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const ids = Array.from({ length: 3 }, () => randomUUID() as ConversationId)
      for (const [index, conversationId] of ids.entries()) {
        const events = conversationEvents(conversationId, index + 1)
        yield* store.append(
          conversationStream(conversationId),
          "no_stream",
          events.map((event) => toNewEvent(event, randomUUID()))
        )
      }
      // Another kind of stream in the same log is left out, and so is an event type from the future.
      yield* store.append(`other-${randomUUID()}`, "no_stream", [
        { eventId: randomUUID(), type: "Other", data: {} }
      ])
      const future = randomUUID() as ConversationId
      yield* store.append(conversationStream(future), "no_stream", [
        { eventId: randomUUID(), type: "SomethingFromTheFuture", data: {} }
      ])

      const last = yield* Stream.runCollect(store.readStream(conversationStream(future)))
      yield* belowHorizon(last[0]!.transactionId)
      const folded = yield* foldLog({ batchSize: 2 })
      for (const [index, conversationId] of ids.entries()) {
        const loaded = yield* load(store, conversationId)
        const fromLog = folded.get(conversationStream(conversationId))
        assert.strictEqual(fromLog?.version, index + 2)
        assert.deepStrictEqual(fromLog, loaded)
      }
      assert.isFalse([...folded.keys()].some((stream) => stream.startsWith("other-")))
      assert.isFalse(folded.has(conversationStream(future)))

      // From a position on: the events after it only (the first conversation's all come before).
      const first = yield* Stream.runCollect(store.readStream(conversationStream(ids[0]!)))
      const after = yield* foldLog({ from: logPositionOf(first[first.length - 1]!), batchSize: 2 })
      assert.isFalse(after.has(conversationStream(ids[0]!)))
      for (const conversationId of ids.slice(1)) {
        assert.deepStrictEqual(
          after.get(conversationStream(conversationId)),
          yield* load(store, conversationId)
        )
      }
    })
  )

  it.effect("pages through the log in its order where positions gain a digit", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const sql = yield* SqlClient.SqlClient
      // The log's positions jump forward (as after rolled-back appends) to just below a power of
      // ten, so that one append's positions go from n digits to n + 1, where "1000" sorts before
      // "999". The table is locked meanwhile, so that no other writer takes the positions between.
      const conversationId = randomUUID() as ConversationId
      yield* Effect.gen(function* () {
        yield* sql`LOCK TABLE events IN EXCLUSIVE MODE`
        yield* sql`
          SELECT setval(pg_get_serial_sequence('events', 'position'),
            power(10, ceil(log(coalesce(max(position), 1) + 20)))::bigint - 5)
          FROM events
        `
        yield* store.append(
          conversationStream(conversationId),
          "no_stream",
          conversationEvents(conversationId, 11).map((event) => toNewEvent(event, randomUUID()))
        )
      }).pipe(sql.withTransaction)
      const recorded = yield* Stream.runCollect(store.readStream(conversationStream(conversationId)))
      const digits = new Set(recorded.map((event) => String(event.position).length))
      assert.strictEqual(digits.size, 2, "the append's positions gain a digit")
      yield* belowHorizon(recorded[0]!.transactionId)
      const before = { transactionId: recorded[0]!.transactionId, position: recorded[0]!.position - 1 }
      for (const batchSize of [2, 3, 5_000]) {
        const folded = yield* foldLog({ from: before, batchSize })
        assert.deepStrictEqual(
          folded.get(conversationStream(conversationId)),
          yield* load(store, conversationId)
        )
      }
    })
  )
})
