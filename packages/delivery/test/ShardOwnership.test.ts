import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Database } from "@messaging-api/domain"
import { Effect, Layer } from "effect"
import { Sharding } from "effect/cluster"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { WorkIndex } from "../src/WorkIndex.ts"
import * as InProcessCluster from "./InProcessCluster.ts"

/**
 * A runner's work schedule looks only at the conversations of the shards it holds, computing a
 * conversation's shard in SQL (`cluster_shard_of`, migration 0012). That must be the shard the
 * cluster routes the conversation's entity to, or a runner would sweep conversations it does not
 * host and miss some it does.
 */

const TestLayer = Layer.mergeAll(InProcessCluster.layer, WorkIndex.layer).pipe(
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 2 }))
)

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("shard ownership", (it) => {
  it.effect("cluster_shard_of agrees with the cluster's getShardId, for any shard count", () =>
    Effect.gen(function* () {
      const sharding = yield* Sharding.Sharding
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const ids = [...Array.from({ length: 1_000 }, () => randomUUID()), "", "x", "conversation-0"]
      const rows = yield* sql<{ id: string; shard: number; small: number }>`
        SELECT id, cluster_shard_of(id, 300) AS shard, cluster_shard_of(id, 7) AS small
        FROM jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb) AS t(id)
      `
      assert.strictEqual(rows.length, ids.length)
      // InProcessCluster runs effect/cluster's default of 300 shards.
      for (const row of rows) {
        assert.strictEqual(
          row.shard,
          sharding.getShardId(row.id as never, "default").id,
          `shard of "${row.id}"`
        )
      }
      // Another shard count: the same hash, modulo 7.
      const seven = new Set(rows.map((row) => row.small))
      assert.deepStrictEqual([...seven].sort(), [1, 2, 3, 4, 5, 6, 7])
    })
  )

  it.effect("the due work of a runner is that of the shards it holds, and none when it holds none", () =>
    Effect.gen(function* () {
      const index = yield* WorkIndex
      const sharding = yield* Sharding.Sharding
      const installation = randomUUID()
      const conversations = Array.from({ length: 60 }, () => randomUUID())
      yield* index.hint(
        conversations.map((conversationId) => ({
          conversationId,
          installationId: installation,
          dueAt: new Date(Date.now() - 1_000).toISOString(),
          version: 1
        }))
      )
      const shardOf = (id: string) => sharding.getShardId(id as never, "default").id
      const owned = [...new Set(conversations.slice(0, 20).map(shardOf))]
      const due = yield* index.due({
        limit: 500,
        excluding: [],
        installations: [installation],
        shards: { shardsPerGroup: 300, owned }
      })
      const expected = conversations.filter((id) => owned.includes(shardOf(id)))
      assert.sameMembers<string>([...due], expected)
      assert.isAtLeast(due.length, 20)
      const none = yield* index.due({
        limit: 500,
        excluding: [],
        installations: [installation],
        shards: { shardsPerGroup: 300, owned: [] }
      })
      assert.deepStrictEqual(none, [])
      const all = yield* index.due({ limit: 500, excluding: [], installations: [installation] })
      assert.sameMembers<string>([...all], conversations)
    })
  )
})
