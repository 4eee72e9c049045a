import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Database } from "@messaging-api/domain"
import { Effect, Exit, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { WorkIndex } from "../src/WorkIndex.ts"

const TestLayer = WorkIndex.layer.pipe(
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 4 }))
)

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("WorkIndex settlements", (it) => {
  it.effect(
    "concurrent settlements, several of one conversation, each get their own answer in few statements",
    () =>
      Effect.gen(function* () {
        const index = yield* WorkIndex
        const sql = (yield* SqlClient.SqlClient).withoutTransforms()
        const installation = randomUUID()
        const later = new Date(Date.now() + 60_000).toISOString()

        // Rows that reflect version 10: an actor that has seen less is stale and writes nothing.
        const ahead = Array.from({ length: 20 }, () => randomUUID())
        yield* index.hint(
          ahead.map((conversationId) => ({
            conversationId,
            installationId: installation,
            dueAt: later,
            version: 10
          }))
        )
        const fresh = Array.from({ length: 40 }, () => randomUUID())

        const calls = [
          ...ahead.map((conversationId) => ({
            conversationId,
            version: 5,
            expected: false as boolean | undefined
          })),
          // Each fresh conversation is settled twice at once: the two must not share a statement
          // (`ON CONFLICT` cannot update one row twice), and the later version is the one kept.
          ...fresh.map((conversationId) => ({ conversationId, version: 3, expected: undefined })),
          ...fresh.map((conversationId) => ({ conversationId, version: 4, expected: true }))
        ]
        const exits = yield* Effect.forEach(
          calls,
          (call) => Effect.exit(index.settle(call.conversationId, call.version, installation, null)),
          { concurrency: "unbounded" }
        )
        calls.forEach((call, i) => {
          const exit = exits[i]!
          assert.isTrue(Exit.isSuccess(exit), `settling ${call.conversationId} at ${call.version} answered`)
          if (call.expected !== undefined && Exit.isSuccess(exit)) {
            assert.strictEqual(exit.value, call.expected, `${call.conversationId} at ${call.version}`)
          }
        })

        const rows = yield* sql<{ conversation_id: string; version: number; done: boolean; tx: string }>`
        SELECT conversation_id::text AS conversation_id, version, due_at = 'infinity' AS done, xmin::text AS tx
        FROM conversation_work WHERE conversation_id::text IN ${sql.in([...ahead, ...fresh])}
      `
        const byId = new Map(rows.map((row) => [row.conversation_id, row]))
        for (const id of ahead) assert.deepInclude(byId.get(id), { version: 10, done: false })
        for (const id of fresh) assert.deepInclude(byId.get(id), { version: 4, done: true })
        // Settlements arriving together share statements.
        const statements = new Set(fresh.map((id) => byId.get(id)?.tx)).size
        assert.isBelow(statements, fresh.length / 2)
      })
  )

  it.effect("a runner of a cluster writes a started conversation's settlement", () =>
    Effect.gen(function* () {
      const index = yield* WorkIndex
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const conversation = randomUUID()
      index.started(conversation)
      assert.isTrue(yield* index.settle(conversation, 2, randomUUID(), null))
      const rows = yield* sql<{ version: number }>`
        SELECT version FROM conversation_work WHERE conversation_id = ${conversation}::uuid
      `
      assert.deepStrictEqual(rows, [{ version: 2 }])
    })
  )

  it.effect("hints no newer than this process's settlements are skipped; newer ones are written", () =>
    Effect.gen(function* () {
      const index = yield* WorkIndex
      const installation = randomUUID()
      const now = new Date().toISOString()
      const settled = randomUUID()
      const elsewhere = randomUUID()
      assert.isTrue(yield* index.settle(settled, 5, installation, null))
      const hint = (conversationId: string, version: number) => ({
        conversationId,
        installationId: installation,
        dueAt: now,
        version
      })
      // Versions 4 and 5 of the settled conversation are work its actor has done.
      assert.deepStrictEqual(
        [hint(settled, 4), hint(settled, 5), hint(settled, 6), hint(elsewhere, 1)].map(index.settled),
        [true, true, false, false]
      )
      const due = () =>
        index
          .due({ limit: 1000, excluding: [], installations: [installation] })
          .pipe(Effect.map((ids) => ids.map(String)))
      // A settled hint written anyway leaves the row done; a newer one makes the conversation due again.
      yield* index.hint([hint(settled, 5)])
      assert.notInclude(yield* due(), settled)
      yield* index.hint([hint(settled, 6)])
      assert.include(yield* due(), settled)
    })
  )
})

const AloneLayer = WorkIndex.layerAlone.pipe(
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 4 }))
)

layer(AloneLayer, { timeout: 60_000, excludeTestServices: true })("WorkIndex in a process alone", (it) => {
  const rowOf = (conversationId: string) =>
    Effect.gen(function* () {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const [row] = yield* sql<{ version: number; done: boolean }>`
        SELECT version, due_at = 'infinity' AS done FROM conversation_work
        WHERE conversation_id = ${conversationId}::uuid
      `
      return row
    })

  /** A hint of work due now for the conversation, at a version. */
  const dueNow = (conversationId: string, installationId: string) => (version: number) => ({
    conversationId,
    installationId,
    dueAt: new Date().toISOString(),
    version
  })

  it.effect("writes a conversation's 'nothing to do' once while its row holds it", () =>
    Effect.gen(function* () {
      const index = yield* WorkIndex
      const installation = randomUUID()
      const conversation = randomUUID()
      const hint = dueNow(conversation, installation)

      // The first is written; the next ones are only remembered, and the work they cover is settled.
      assert.isTrue(yield* index.settle(conversation, 5, installation, null))
      assert.deepStrictEqual(yield* rowOf(conversation), { version: 5, done: true })
      assert.isTrue(yield* index.settle(conversation, 7, installation, null))
      assert.isTrue(yield* index.settle(conversation, 9, installation, null))
      assert.deepStrictEqual(yield* rowOf(conversation), { version: 5, done: true })
      assert.deepStrictEqual([hint(6), hint(9), hint(10)].map(index.settled), [true, true, false])

      // A hint written claims work again: the next settlement is written.
      yield* index.hint([hint(10)])
      assert.deepStrictEqual(yield* rowOf(conversation), { version: 10, done: false })
      assert.isTrue(yield* index.settle(conversation, 10, installation, null))
      assert.deepStrictEqual(yield* rowOf(conversation), { version: 10, done: true })

      // So does a settlement with a due time, which stays in the row until it is settled again.
      const later = new Date(Date.now() + 60_000).toISOString()
      assert.isTrue(yield* index.settle(conversation, 11, installation, later))
      assert.isTrue(yield* index.settle(conversation, 12, installation, null))
      assert.deepStrictEqual(yield* rowOf(conversation), { version: 12, done: true })
    })
  )

  it.effect("a row found due, whoever wrote it, has its next settlement written", () =>
    Effect.gen(function* () {
      const index = yield* WorkIndex
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const installation = randomUUID()
      const conversation = randomUUID()
      assert.isTrue(yield* index.settle(conversation, 3, installation, null))
      // Another process's projector claims work for it (this process hears nothing of it).
      yield* sql`
        UPDATE conversation_work SET due_at = now(), version = 4 WHERE conversation_id = ${conversation}::uuid
      `
      const due = yield* index.due({ limit: 1000, excluding: [], installations: [installation] })
      assert.include(due.map(String), conversation)
      // Its actor finds nothing to do at version 4: written, so the schedule stops finding it due.
      assert.isTrue(yield* index.settle(conversation, 4, installation, null))
      assert.deepStrictEqual(yield* rowOf(conversation), { version: 4, done: true })
      const after = yield* index.due({ limit: 1000, excluding: [], installations: [installation] })
      assert.notInclude(after.map(String), conversation)
    })
  )

  it.effect("a conversation started here has no row until one claims work", () =>
    Effect.gen(function* () {
      const index = yield* WorkIndex
      const installation = randomUUID()
      const conversation = randomUUID()
      const hint = dueNow(conversation, installation)
      index.started(conversation)

      // Its work done, nothing is written, and the hints of that work are still known as settled.
      assert.isTrue(yield* index.settle(conversation, 4, installation, null))
      assert.isTrue(yield* index.settle(conversation, 7, installation, null))
      assert.isUndefined(yield* rowOf(conversation))
      assert.deepStrictEqual([hint(4), hint(7), hint(8)].map(index.settled), [true, true, false])

      // A hint written claims work: the next "nothing to do" is written over it.
      yield* index.hint([hint(8)])
      assert.deepStrictEqual(yield* rowOf(conversation), { version: 8, done: false })
      assert.isTrue(yield* index.settle(conversation, 8, installation, null))
      assert.deepStrictEqual(yield* rowOf(conversation), { version: 8, done: true })

      // A due time is written, and so is the "nothing to do" after it.
      const other = randomUUID()
      index.started(other)
      const later = new Date(Date.now() + 60_000).toISOString()
      assert.isTrue(yield* index.settle(other, 3, installation, later))
      assert.deepStrictEqual(yield* rowOf(other), { version: 3, done: false })
      assert.isTrue(yield* index.settle(other, 4, installation, null))
      assert.deepStrictEqual(yield* rowOf(other), { version: 4, done: true })
    })
  )

  it.effect("a stale actor's settlement is still refused", () =>
    Effect.gen(function* () {
      const index = yield* WorkIndex
      const installation = randomUUID()
      const conversation = randomUUID()
      yield* index.hint([
        {
          conversationId: conversation,
          installationId: installation,
          dueAt: new Date().toISOString(),
          version: 8
        }
      ])
      assert.isFalse(yield* index.settle(conversation, 6, installation, null))
      assert.isFalse(yield* index.settle(conversation, 7, installation, null))
      assert.deepStrictEqual(yield* rowOf(conversation), { version: 8, done: false })
    })
  )
})
