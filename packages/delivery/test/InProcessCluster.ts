import { Layer } from "effect"
import {
  MessageStorage,
  RunnerHealth,
  RunnerStorage,
  Runners,
  Sharding,
  ShardingConfig
} from "effect/cluster"

/**
 * effect/cluster with this process as its only runner and effect's default shard count (300):
 * volatile messages only, no networking, nothing read from the environment. For tests that compare
 * our SQL with the cluster's own routing; a process alone keeps its actors without a cluster
 * (`LocalActors`).
 */
export const layer = Sharding.layer.pipe(
  Layer.provideMerge(Runners.layerNoop),
  Layer.provideMerge(MessageStorage.layerNoop),
  Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
  Layer.provide(ShardingConfig.layer())
)
