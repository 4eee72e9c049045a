import { NodeClusterSocket } from "@effect/platform-node"
import { RunnerStatus } from "@messaging-api/domain"
import { Context, type Duration, Effect, Layer, Option, Schedule } from "effect"
import {
  MessageStorage,
  RunnerAddress,
  RunnerHealth,
  Runners,
  ShardId,
  Sharding,
  ShardingConfig,
  SocketRunner,
  SqlRunnerStorage
} from "effect/cluster"
import { RpcSerialization } from "effect/rpc"
import { Migrator, SqlClient } from "effect/sql"
import * as LeanContext from "./LeanContext.ts"
import { ShardOwnership } from "./ShardOwnership.ts"

/**
 * effect/cluster across processes: this process is one runner of a cluster sharing one Postgres.
 * Runners register in `cluster_runners` (SQL runner storage), compute the shards each owns from
 * the live runners, and hold each shard with a Postgres advisory lock; messages to an entity go
 * over a socket to the runner that holds its shard. Messages are volatile (no message storage):
 * the event log is the only durable record, `conversation_work` the durable schedule. What
 * `NodeClusterSocket.layer` does, composed by hand with our own settings (it reads unprefixed
 * `HOST`/`PORT`, which are the HTTP server's).
 * Closing the layer (SIGTERM) unregisters the runner and releases its shards, so the others take
 * them at their next look, without waiting for the lease.
 */

export interface ClusterSettings {
  /** Interface the runner listens on. */
  readonly listenHost: string
  /** `CLUSTER_PORT`: the runner's port. */
  readonly port: number
  /** `CLUSTER_ADVERTISE_HOST`: how the other runners reach this one. */
  readonly advertiseHost: string
  /** `CLUSTER_SHARDS`: shards of the cluster; the same on every runner. */
  readonly shards: number
  /** `CLUSTER_LEASE`: how long a dead runner's shards stay locked before others may take them. */
  readonly lease: Duration.Duration
}

/** The shard group our entities and singletons use (effect/cluster's default). */
const GROUP = "default"

/**
 * effect/cluster's runner tables (`cluster_runners`, `cluster_locks`), by its own migrations,
 * run while holding our migrations' lock: several processes starting at once take turns instead
 * of racing on the DDL.
 */
export const migrateRunnerStorage = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* Effect.gen(function* () {
    yield* sql`LOCK TABLE messaging_api_migrations IN ACCESS EXCLUSIVE MODE`
    yield* Migrator.make({})({
      loader: SqlRunnerStorage.migrations({}),
      table: "cluster_runner_migrations"
    })
  }).pipe(sql.withTransaction)
})

const shardingConfig = (settings: ClusterSettings) =>
  ShardingConfig.layer({
    runnerAddress: Option.some(RunnerAddress.make(settings.advertiseHost, settings.port)),
    runnerListenAddress: Option.some(RunnerAddress.make(settings.listenHost, settings.port)),
    shardsPerGroup: settings.shards,
    shardLockExpiration: settings.lease,
    // Our own shutdown drains the work loops first; this only bounds the cluster's wait after that.
    entityTerminationTimeout: "2 seconds",
    // Messages to entities on this runner stay in memory: no encode/decode of every command.
    simulateRemoteSerialization: false,
    // Live conversations are bounded by memory only; idle ones passivate (`passivateAfter`).
    maxResidentEntities: "unbounded"
  })

/**
 * `Sharding` over sockets and SQL runner storage, with volatile messages. Built in a lean context:
 * the cluster copies it into every live entity (`LeanContext`).
 */
const sharding = (settings: ClusterSettings) =>
  LeanContext.build(
    SocketRunner.layer.pipe(
      Layer.provide([NodeClusterSocket.layerSocketServer, NodeClusterSocket.layerClientProtocol]),
      Layer.provide(
        RunnerHealth.layerPing.pipe(
          Layer.provide(Runners.layerRpc),
          Layer.provide(NodeClusterSocket.layerClientProtocol)
        )
      ),
      Layer.provideMerge(MessageStorage.layerNoop),
      Layer.provide(SqlRunnerStorage.layerStorage({})),
      Layer.provide(Layer.effectDiscard(migrateRunnerStorage)),
      Layer.provide(shardingConfig(settings)),
      Layer.provide(RpcSerialization.layerSchemaBinary())
    )
  )

/**
 * Which shards this runner holds (for the work schedule and `/readyz`), and a row in
 * `cluster_runner_shards` saying so for the CLI, written when it changes (and every few seconds),
 * removed when the runner stops.
 */
const ownership = (settings: ClusterSettings) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const cluster = yield* Sharding.Sharding
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const runner = `${settings.advertiseHost}:${settings.port}`
      const shardIds = Array.from({ length: settings.shards }, (_, i) => ShardId.make(GROUP, i + 1))
      const owned = () => shardIds.filter((shard) => cluster.hasShardId(shard)).map((shard) => shard.id)

      let reported: string | undefined
      let reportedAt = 0
      const report = Effect.gen(function* () {
        const shards = owned()
        const key = shards.join(",")
        const now = Date.now()
        if (key === reported && now - reportedAt < 5_000) return
        yield* sql`
          INSERT INTO cluster_runner_shards (runner, shards, updated_at)
          VALUES (${runner}, ${`{${key}}`}::int[], now())
          ON CONFLICT (runner) DO UPDATE SET shards = EXCLUDED.shards, updated_at = now()
        `
        reported = key
        reportedAt = now
      })
      yield* Effect.addFinalizer(() =>
        sql`DELETE FROM cluster_runner_shards WHERE runner = ${runner}`.pipe(Effect.ignore)
      )
      yield* report.pipe(
        Effect.catch((error) => Effect.logDebug("could not report this runner's shards", error)),
        Effect.repeat(Schedule.spaced("1 second")),
        Effect.forkScoped
      )

      return Context.make(ShardOwnership, { shardsPerGroup: settings.shards, owned }).pipe(
        Context.add(RunnerStatus.RunnerStatus, {
          current: Effect.sync(() => ({ runner, shards: owned().length }))
        })
      )
    })
  )

/** This process as a runner of the cluster: `Sharding`, the shards it owns, and its status. */
export const layer = (settings: ClusterSettings) =>
  ownership(settings).pipe(Layer.provideMerge(sharding(settings)))
