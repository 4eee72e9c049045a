import { Layer } from "effect"
import {
  MessageStorage,
  RunnerHealth,
  RunnerStorage,
  Runners,
  Sharding,
  ShardingConfig
} from "effect/cluster"
import * as LeanContext from "./LeanContext.ts"

/**
 * effect/cluster with this process as its only runner, for volatile messages only: no message
 * storage (the event log is the durable record), no networking, nothing read from the
 * environment. `SingleRunner.layer` would also work but creates SQL tables for persisted messages
 * we never send and reads unprefixed `HOST`/`PORT` for its runner address. Sharding conversations
 * across processes means replacing this layer with `NodeClusterSocket.layer` (the entity needs
 * only `Sharding`). Built in a lean context: the cluster copies it into every live entity
 * (`LeanContext`).
 */
export const layer = LeanContext.build(
  Sharding.layer.pipe(
    Layer.provideMerge(Runners.layerNoop),
    Layer.provideMerge(MessageStorage.layerNoop),
    Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
    Layer.provide(
      ShardingConfig.layer({
        // Our own shutdown drains the work loops first; this only bounds the cluster's wait after that.
        entityTerminationTimeout: "2 seconds",
        // Messages stay in this process: no Schema encode/decode of every command and result.
        simulateRemoteSerialization: false,
        // Live conversations are bounded by memory only; idle ones passivate (`passivateAfter`).
        maxResidentEntities: "unbounded"
      })
    )
  )
)
