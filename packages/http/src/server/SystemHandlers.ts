import { Migrations, RunnerStatus } from "@messaging-api/domain"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { SqlClient } from "effect/sql"
import { Api } from "../Api.ts"
import { databaseUnavailable, ServiceUnavailable } from "../api/ApiErrors.ts"
import { answering } from "./ErrorAnswers.ts"

export const SystemHandlers = HttpApiBuilder.group(
  Api,
  "system",
  Effect.fn(function* (handlers) {
    const sql = yield* SqlClient.SqlClient
    const runner = yield* RunnerStatus.RunnerStatus
    const appliedMigration = sql<{ readonly id: number | null }>`
      SELECT max(migration_id) AS id FROM messaging_api_migrations
    `.pipe(
      Effect.map((rows) => rows[0]?.id ?? 0),
      // Not ready is the answer to a database that does not answer.
      Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.fail(databaseUnavailable()) })
    )

    return answering(handlers).handleAll({
      healthz: () => Effect.succeed({ status: "ok" as const }),
      readyz: Effect.fn("System.readyz")(function* () {
        const migration = yield* appliedMigration
        // A database migrated further by a newer process still serves this one (rolling deploys).
        if (migration < Migrations.latestMigrationId) {
          return yield* new ServiceUnavailable({
            error: {
              code: "migrations_pending",
              message: `migration ${migration} applied, ${Migrations.latestMigrationId} expected`
            }
          })
        }
        const cluster = yield* runner.current
        return { status: "ready" as const, migration, ...(cluster === undefined ? {} : { cluster }) }
      })
    })
  })
)
