import { Context, Effect, Schema } from "effect"

/**
 * Whether this process is a runner of a cluster, and how many shards it owns now: what `/readyz`
 * reports. A port: the server provides it when it runs as a runner; without it the process runs
 * alone and reports nothing.
 */

export const RunnerState = Schema.Struct({
  /** How the other runners reach this one (`host:port`). */
  runner: Schema.String,
  /** Shards this runner holds now (0 while it has not registered or has handed them off). */
  shards: Schema.Int
})
export type RunnerState = typeof RunnerState.Type

export interface RunnerStatusShape {
  /** `undefined` when the process is not a runner of a cluster. */
  readonly current: Effect.Effect<RunnerState | undefined>
}

export const RunnerStatus = Context.Reference<RunnerStatusShape>("@messaging-api/domain/RunnerStatus", {
  defaultValue: () => ({ current: Effect.succeed(undefined) })
})
