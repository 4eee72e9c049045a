import { randomUUID } from "node:crypto"
import { assert, describe, it, layer } from "@effect/vitest"
import { Database } from "@messaging-api/domain"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { ConversationFilter, KnownConversations } from "../src/KnownConversations.ts"

describe("ConversationFilter", () => {
  it("finds every conversation added, across its layers, and few that were not", () => {
    const filter = new ConversationFilter()
    const added = Array.from({ length: 150_000 }, () => randomUUID())
    for (const id of added) filter.add(id)
    assert.isTrue(added.every((id) => filter.has(id)))
    // Added again, each says it was there.
    assert.isTrue(added.slice(0, 1_000).every((id) => filter.add(id)))
    const others = Array.from({ length: 50_000 }, () => randomUUID())
    const falsePositives = others.filter((id) => filter.has(id)).length
    // About 1 % a layer; 150,000 entries fill three.
    assert.isBelow(falsePositives / others.length, 0.04)
  })
})

const Storage = Database.layer({ url: inject("databaseUrl"), maxConnections: 2 })

layer(Storage, { timeout: 60_000, excludeTestServices: true })(
  "KnownConversations in a process alone",
  (it) => {
    it.effect("knows the read model's conversations once it has read them, and those added since", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        // More than a page of the read model's conversations.
        const existing = Array.from({ length: 12_000 }, () => randomUUID())
        const installation = randomUUID()
        yield* sql`
        INSERT INTO rm_conversations (conversation_id, installation_id, external_conversation_id, started_at, last_activity_at, version)
        SELECT id, ${installation}::uuid, id::text, now(), now(), 1 FROM unnest(${existing}::uuid[]) AS id
      `
        yield* Effect.gen(function* () {
          const known = yield* KnownConversations
          const unknown = randomUUID()
          // Woken while the read model is being read: it may exist, and is remembered.
          const wokenEarly = randomUUID()
          assert.isTrue(known.woken(wokenEarly))
          // Until the read model has been read, every conversation may exist.
          while (known.mayExist(unknown)) yield* Effect.sleep("5 millis")
          assert.isTrue(existing.every((id) => known.mayExist(id)))
          assert.isTrue(known.mayExist(wokenEarly))
          // Woken once read: new the first time, known from then on.
          assert.isFalse(known.woken(unknown))
          assert.isTrue(known.mayExist(unknown))
          assert.isTrue(known.woken(unknown))
        }).pipe(Effect.provide(KnownConversations.layerAlone))
      })
    )

    it.effect("a runner of a cluster never assumes a conversation is new", () =>
      Effect.gen(function* () {
        const known = yield* KnownConversations
        assert.isTrue(known.mayExist(randomUUID()))
        assert.isTrue(known.woken(randomUUID()))
      }).pipe(Effect.provide(KnownConversations.layerUnknown))
    )
  }
)
