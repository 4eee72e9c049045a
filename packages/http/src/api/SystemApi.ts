import { RunnerStatus } from "@messaging-api/domain"
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { ServiceUnavailable } from "./ApiErrors.ts"

export const Health = Schema.Struct({ status: Schema.Literal("ok") })
export const Readiness = Schema.Struct({
  status: Schema.Literal("ready"),
  /** The id of the last migration applied. */
  migration: Schema.Int,
  /** Present when the process is a runner of a cluster: its address and the shards it owns now. */
  cluster: Schema.optionalKey(RunnerStatus.RunnerState)
})

export class SystemApi extends HttpApiGroup.make("system", { topLevel: true })
  .add(
    HttpApiEndpoint.get("healthz", "/healthz", { success: Health }).annotateMerge(
      OpenApi.annotations({ summary: "The process is up" })
    ),
    HttpApiEndpoint.get("readyz", "/readyz", { success: Readiness, error: ServiceUnavailable }).annotateMerge(
      OpenApi.annotations({ summary: "The database is reachable and every migration is applied" })
    )
  )
  .annotateMerge(OpenApi.annotations({ title: "System" })) {}
