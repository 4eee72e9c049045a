import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { CompleteBotTurn, RequestRedelivery } from "../src/ConversationCommands.ts"
import { ConversationSnapshots, SNAPSHOT_EVERY } from "../src/ConversationSnapshots.ts"
import { loadDecisionState } from "../src/ConversationStream.ts"
import { EventStore } from "../src/EventStore.ts"
import {
  type ConversationId,
  conversationIdFor,
  conversationStream,
  type MessageId,
  newMessageId
} from "../src/Ids.ts"
import {
  deadLettered,
  delivered,
  execute,
  newInstallation,
  receive,
  retried,
  TestLayer
} from "./ProjectionFixtures.ts"

/**
 * A snapshot is a cache of the log: loading from one (plus the events after it) gives exactly the
 * decision state of a fold from the start, an older snapshot never replaces a newer one, and a
 * snapshot this version cannot read is ignored rather than trusted.
 */

const Snapshots = ConversationSnapshots.layer.pipe(Layer.provideMerge(TestLayer))

/** A conversation with `turns` turns: each a user message, a reply, a failed and a good attempt (5 events). */
const conversationOf = (
  turns: number,
  from = 0,
  external = `snap-${newMessageId()}`,
  installation = newInstallation()
) =>
  Effect.gen(function* () {
    const conversationId = conversationIdFor(installation, external)
    for (let i = from; i < from + turns; i++) {
      const message = receive(installation, external, `m${i}`, `text ${i}`)
      yield* execute(conversationId, message)
      const reply = newMessageId() as MessageId
      yield* execute(
        conversationId,
        new CompleteBotTurn({
          userMessageId: message.messageId,
          messages: [{ messageId: reply, type: "text", payload: { text: `reply ${i}` } }],
          at: new Date().toISOString()
        })
      )
      yield* execute(conversationId, retried(reply, "HTTP 503"))
      // Every seventh reply is dead-lettered (and stays in the state); the others are delivered.
      yield* execute(conversationId, i % 7 === 0 ? deadLettered(reply) : delivered(reply))
    }
    return { installation, external, conversationId }
  })

const fromStart = (conversationId: ConversationId) =>
  Effect.gen(function* () {
    return yield* loadDecisionState(yield* EventStore, conversationId)
  })

layer(Snapshots, { timeout: 60_000, excludeTestServices: true })("ConversationSnapshots", (it) => {
  it.effect("loads the same state from a snapshot and the events after it as from the start", () =>
    Effect.gen(function* () {
      const snapshots = yield* ConversationSnapshots
      const { conversationId, external, installation } = yield* conversationOf(30)
      const none = yield* snapshots.load(conversationId)
      assert.strictEqual(none.snapshotVersion, 0)
      assert.deepStrictEqual({ state: none.state, version: none.version }, yield* fromStart(conversationId))
      assert.isAbove(none.version, SNAPSHOT_EVERY)

      yield* snapshots.save(conversationId, none)
      // More events after the snapshot, a redelivery among them.
      const dead = none.state.deadLetters[0]!.messageId
      yield* execute(conversationId, new RequestRedelivery({ messageId: dead, at: new Date().toISOString() }))
      yield* conversationOf(3, 100, external, installation)

      const loaded = yield* snapshots.load(conversationId)
      const expected = yield* fromStart(conversationId)
      assert.strictEqual(loaded.snapshotVersion, none.version)
      assert.strictEqual(loaded.version, expected.version)
      assert.isAbove(loaded.version, none.version + 3)
      assert.isAbove(loaded.state.outbox.length, 1)
      assert.deepStrictEqual(loaded.state, expected.state)

      // Exactly at the snapshot (no events after it) too.
      yield* snapshots.save(conversationId, loaded)
      const atSnapshot = yield* snapshots.load(conversationId)
      assert.strictEqual(atSnapshot.snapshotVersion, expected.version)
      assert.deepStrictEqual({ state: atSnapshot.state, version: atSnapshot.version }, expected)
    })
  )

  it.effect("never replaces a snapshot with an older one", () =>
    Effect.gen(function* () {
      const snapshots = yield* ConversationSnapshots
      const { conversationId } = yield* conversationOf(4)
      const newer = yield* fromStart(conversationId)
      yield* snapshots.save(conversationId, newer)
      yield* snapshots.save(conversationId, { ...newer, version: newer.version - 5 })
      assert.strictEqual((yield* snapshots.load(conversationId)).snapshotVersion, newer.version)
    })
  )

  it.effect("ignores a snapshot it cannot read and folds the stream from the start", () =>
    Effect.gen(function* () {
      const snapshots = yield* ConversationSnapshots
      const sql = yield* SqlClient.SqlClient
      const { conversationId } = yield* conversationOf(4)
      yield* sql`
        INSERT INTO conversation_snapshots (stream_id, version, state)
        VALUES (${conversationStream(conversationId)}, 3, ${JSON.stringify({ format: 999, state: { nope: true } })}::jsonb)
      `
      const loaded = yield* snapshots.load(conversationId)
      assert.strictEqual(loaded.snapshotVersion, 0)
      assert.deepStrictEqual(
        { state: loaded.state, version: loaded.version },
        yield* fromStart(conversationId)
      )
    })
  )

  it.effect("loads many conversations at once, each its own state", () =>
    Effect.gen(function* () {
      const snapshots = yield* ConversationSnapshots
      const sql = yield* SqlClient.SqlClient
      const plain = yield* conversationOf(2)
      const snapshotted = yield* conversationOf(3)
      yield* snapshots.save(snapshotted.conversationId, yield* fromStart(snapshotted.conversationId))
      yield* conversationOf(1, 10, snapshotted.external, snapshotted.installation)
      const unreadable = yield* conversationOf(2)
      yield* sql`
        INSERT INTO conversation_snapshots (stream_id, version, state)
        VALUES (${conversationStream(unreadable.conversationId)}, 4, ${JSON.stringify({ format: 999 })}::jsonb)
      `
      const unknown = conversationIdFor(newInstallation(), "never")
      const ids = [plain.conversationId, snapshotted.conversationId, unreadable.conversationId, unknown]
      // Loads made at once share a statement; each gets its own conversation's state.
      const loaded = yield* Effect.forEach(ids, (id) => snapshots.load(id), { concurrency: "unbounded" })
      const expected = yield* Effect.forEach(ids, fromStart)
      assert.deepStrictEqual(
        loaded.map(({ state, version }) => ({ state, version })),
        expected
      )
      assert.deepStrictEqual(
        loaded.map((one) => one.snapshotVersion),
        [0, expected[1]!.version - 5, 0, 0]
      )
    })
  )

  it.effect("loads an unknown conversation as empty", () =>
    Effect.gen(function* () {
      const snapshots = yield* ConversationSnapshots
      const loaded = yield* snapshots.load(conversationIdFor(newInstallation(), "never"))
      assert.deepStrictEqual(
        { version: loaded.version, snapshotVersion: loaded.snapshotVersion, outbox: loaded.state.outbox },
        { version: 0, snapshotVersion: 0, outbox: [] }
      )
    })
  )
})
