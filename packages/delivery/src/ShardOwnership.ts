import { Context } from "effect"

/**
 * Which conversations this process works on its own initiative (the work schedule and its
 * recovery sweep). Alone (the default) it owns them all. As a runner of a cluster it owns the
 * conversations whose shard it holds now: `owned()` changes as shards move between runners, and
 * the shard of a conversation is computed the way the cluster routes it (`cluster_shard_of` in
 * SQL, `Sharding.getShardId` in the cluster).
 */
export interface OwnedShards {
  /** The cluster's shard count (`CLUSTER_SHARDS`); shard ids run from 1 to it. */
  readonly shardsPerGroup: number
  /** The shards this runner holds now. */
  readonly owned: () => ReadonlyArray<number>
}

export const ShardOwnership = Context.Reference<OwnedShards | undefined>(
  "@messaging-api/delivery/ShardOwnership",
  { defaultValue: () => undefined }
)
