import { assert, describe, it } from "@effect/vitest"
import { EventStore } from "@messaging-api/domain"
import { Context, Effect, FileSystem, Layer, Path, References } from "effect"
import { ShardingConfig } from "effect/cluster"
import { SqlClient } from "effect/sql"
import * as LeanContext from "../src/LeanContext.ts"

/**
 * The context the cluster and the conversation entity are built in: effect's own services and
 * references stay (the cluster's, the SQL client, the log level), the application's and the
 * platform's go (each would cost every live conversation memory).
 */

const keysOf = (context: Context.Context<never>) => [...context.mapUnsafe.keys()].sort()

const full = Context.make(References.MinimumLogLevel, "Warn").pipe(
  Context.add(ShardingConfig.ShardingConfig, ShardingConfig.defaults),
  Context.add(SqlClient.SqlClient, {} as SqlClient.SqlClient),
  Context.add(EventStore.EventStore, {} as EventStore.EventStore["Service"]),
  Context.add(FileSystem.FileSystem, {} as FileSystem.FileSystem),
  Context.add(Path.Path, {} as Path.Path)
) as Context.Context<never>

describe("LeanContext", () => {
  it("keeps effect's services and references, drops the application's and the platform's", () => {
    assert.deepStrictEqual(
      keysOf(LeanContext.effectOnly(full)),
      [References.MinimumLogLevel.key, ShardingConfig.ShardingConfig.key, SqlClient.SqlClient.key].sort()
    )
  })

  it.effect("builds a layer in that context: what the layer reads of effect's is still there", () =>
    Effect.gen(function* () {
      const Seen = Context.Service<{ readonly keys: ReadonlyArray<string>; readonly level: string }>(
        "test/LeanContext/Seen"
      )
      const layer = Layer.effect(
        Seen,
        Effect.gen(function* () {
          const context = yield* Effect.context<never>()
          return { keys: keysOf(context), level: yield* References.MinimumLogLevel }
        })
      )
      const built = yield* Layer.build(LeanContext.build(layer)).pipe(Effect.provideContext(full))
      const seen = Context.get(built, Seen)
      assert.strictEqual(seen.level, "Warn")
      assert.isFalse(seen.keys.includes(EventStore.EventStore.key))
      assert.isFalse(seen.keys.includes(FileSystem.FileSystem.key))
      assert.isTrue(seen.keys.includes(ShardingConfig.ShardingConfig.key))
    }).pipe(Effect.scoped)
  )
})
