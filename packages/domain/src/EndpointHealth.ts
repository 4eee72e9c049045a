import { Cache, Context, Duration, Effect, Exit, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { InstallationId } from "./Ids.ts"
import { InstantFromDate } from "./Instant.ts"
import * as OwnRows from "./OwnRows.ts"

/**
 * The health of each installation's response endpoint (table `endpoint_health`), Svix-like:
 * - failing: an attempt failed, and no delivery has succeeded since; `failingSince` is the first
 *   failed attempt after the last success;
 * - paused: an attempt failed while the endpoint had been failing for longer than the pause bound
 *   (`ENDPOINT_PAUSE_AFTER`): its conversations hold their deliveries back (pending, in order,
 *   their schedules untouched) until `resume`;
 * - healthy: anything else (most installations have no row at all).
 *
 * The delivery engine asks on every attempt, so this process keeps what it last read or wrote for
 * `CACHE_TTL` per installation: a success writes only when the endpoint was failing, and a pause
 * or a resume made in another process (the CLI) is seen here within that time.
 */

export const EndpointState = Schema.Literals(["healthy", "failing", "paused"])
export type EndpointState = typeof EndpointState.Type

export const EndpointStatus = Schema.Struct({
  status: EndpointState,
  /** The first failed attempt after the last successful delivery. */
  failingSince: Schema.optionalKey(Schema.String),
  /** When deliveries were paused. */
  pausedAt: Schema.optionalKey(Schema.String),
  /** The error of the latest failed attempt. */
  lastError: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "EndpointStatus" })
export type EndpointStatus = typeof EndpointStatus.Type

export const healthy: EndpointStatus = { status: "healthy" }

/** How long this process trusts what it last read or wrote of one endpoint's health. */
export const CACHE_TTL = Duration.seconds(1)

/** An endpoint_health row, selected under the status's names (`columns`). */
const HealthRow = Schema.Struct({
  installationId: Schema.String,
  failingSince: Schema.NullOr(InstantFromDate),
  lastError: Schema.NullOr(Schema.String),
  pausedAt: Schema.NullOr(InstantFromDate)
})
type HealthRow = typeof HealthRow.Type

const statusOf = (row: HealthRow | undefined): EndpointStatus => {
  if (row === undefined || (row.failingSince === null && row.pausedAt === null)) return healthy
  return {
    status: row.pausedAt === null ? "failing" : "paused",
    ...(row.failingSince === null ? {} : { failingSince: row.failingSince }),
    ...(row.pausedAt === null ? {} : { pausedAt: row.pausedAt }),
    ...(row.lastError === null ? {} : { lastError: row.lastError })
  }
}

export class EndpointHealth extends Context.Service<
  EndpointHealth,
  {
    /** As stored now (the API and the CLI). */
    get(installationId: string): Effect.Effect<EndpointStatus, SqlError.SqlError>
    /** Several at once: installations without a row are healthy. */
    getMany(
      installationIds: ReadonlyArray<string>
    ): Effect.Effect<ReadonlyMap<string, EndpointStatus>, SqlError.SqlError>
    /** As this process last knew it, read again after `CACHE_TTL` (the delivery engine). */
    current(installationId: string): Effect.Effect<EndpointStatus, SqlError.SqlError>
    /**
     * A delivery attempt failed at `at`: the endpoint is failing since its first failure after the
     * last success, and paused when that is `pauseAfter` or longer ago. Answers the new status.
     */
    failed(
      installationId: string,
      at: string,
      error: string,
      pauseAfter: Duration.Duration
    ): Effect.Effect<EndpointStatus, SqlError.SqlError>
    /** A delivery succeeded: a failing endpoint is healthy again (a paused one waits for `resume`). */
    succeeded(installationId: string): Effect.Effect<void, SqlError.SqlError>
    /** Ends a pause (and the failing period): held deliveries go out again. Answers the new status. */
    resume(installationId: string): Effect.Effect<EndpointStatus, SqlError.SqlError>
  }
>()("@messaging-api/domain/EndpointHealth") {
  static readonly layer = Layer.effect(
    EndpointHealth,
    Effect.gen(function* () {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const isUuid = Schema.is(InstallationId)
      const columns = sql`installation_id::text AS "installationId", failing_since AS "failingSince",
        last_error AS "lastError", paused_at AS "pausedAt"`
      const rowsOf = OwnRows.findAll({
        Request: Schema.Array(Schema.String),
        Result: HealthRow,
        execute: (ids) => sql`
          SELECT ${columns} FROM endpoint_health
          WHERE installation_id IN (SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))
        `
      })
      const failedRow = OwnRows.findOneOption({
        Request: Schema.Struct({
          installationId: Schema.String,
          at: Schema.String,
          error: Schema.String,
          pauseAfterMillis: Schema.Number
        }),
        Result: HealthRow,
        execute: ({ at, error, installationId, pauseAfterMillis }) => sql`
          INSERT INTO endpoint_health AS h (installation_id, failing_since, last_error)
          VALUES (${installationId}::uuid, ${at}::timestamptz, ${error})
          ON CONFLICT (installation_id) DO UPDATE SET
            failing_since = coalesce(h.failing_since, EXCLUDED.failing_since),
            last_error = EXCLUDED.last_error,
            paused_at = coalesce(
              h.paused_at,
              CASE WHEN coalesce(h.failing_since, EXCLUDED.failing_since)
                        <= EXCLUDED.failing_since - ${pauseAfterMillis} * interval '1 millisecond'
                   THEN EXCLUDED.failing_since END
            ),
            updated_at = now()
          RETURNING ${columns}
        `
      })

      const getMany = Effect.fn("EndpointHealth.getMany")(function* (installationIds: ReadonlyArray<string>) {
        const ids = installationIds.filter(isUuid)
        const rows = ids.length === 0 ? [] : yield* rowsOf(ids)
        const byId = new Map(rows.map((row) => [row.installationId, row]))
        return new Map(installationIds.map((id) => [id, statusOf(byId.get(id))]))
      })

      const read = (installationId: string) =>
        getMany([installationId]).pipe(Effect.map((all) => all.get(installationId) ?? healthy))

      /**
       * What this process last read or wrote of each installation's health, for `CACHE_TTL`. Every
       * delivery asks, so when an entry expires under load many ask at once: effect's `Cache` reads
       * it once for all of them (each asker used to read it again until the first answer: 223
       * reads in 5 s at 1,000 msgs/s, each holding a connection of the pool).
       */
      const known = yield* Cache.makeWith(read, {
        capacity: 10_000,
        timeToLive: (exit) => (Exit.isSuccess(exit) ? CACHE_TTL : 0)
      })

      const remember = (installationId: string, status: EndpointStatus) =>
        Effect.as(Cache.set(known, installationId, status), status)

      const get = (installationId: string) =>
        Effect.tap(read(installationId), (status) => remember(installationId, status))

      const current = (installationId: string) => Cache.get(known, installationId)

      const failed = Effect.fn("EndpointHealth.failed")(function* (
        installationId: string,
        at: string,
        error: string,
        pauseAfter: Duration.Duration
      ) {
        const row = yield* failedRow({
          installationId,
          at,
          error,
          pauseAfterMillis: Duration.toMillis(pauseAfter)
        })
        return yield* remember(installationId, statusOf(Option.getOrUndefined(row)))
      })

      const succeeded = (installationId: string) =>
        Effect.flatMap(current(installationId), (status) =>
          status.status !== "failing"
            ? Effect.void
            : sql`
                UPDATE endpoint_health
                SET failing_since = NULL, last_error = NULL, updated_at = now()
                WHERE installation_id = ${installationId}::uuid AND paused_at IS NULL
                RETURNING installation_id
              `.pipe(
                Effect.flatMap((rows) =>
                  rows.length === 0 ? get(installationId) : remember(installationId, healthy)
                ),
                Effect.asVoid,
                Effect.withSpan("EndpointHealth.succeeded")
              )
        )

      const resume = Effect.fn("EndpointHealth.resume")(function* (installationId: string) {
        if (!isUuid(installationId)) return healthy
        yield* sql`
          UPDATE endpoint_health
          SET failing_since = NULL, last_error = NULL, paused_at = NULL, updated_at = now()
          WHERE installation_id = ${installationId}::uuid
        `
        return yield* remember(installationId, healthy)
      })

      return EndpointHealth.of({ get, getMany, current, failed, succeeded, resume })
    })
  )
}
