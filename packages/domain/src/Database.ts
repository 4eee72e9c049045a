import { PgClient } from "@effect/sql-pg"
import { Duration, Layer, Metric, Redacted } from "effect"
import * as Metrics from "./Metrics.ts"
import { MigrationsLayer } from "./migrations/index.ts"

export interface DatabaseOptions {
  readonly url: string
  readonly maxConnections?: number
  /** Connections opened up front (the embedded database wants them all: a new one waits behind an open transaction). */
  readonly minConnections?: number | undefined
  /**
   * Statements running longer are cancelled by Postgres (`statement_timeout`, migrations exempt),
   * and a new connection must be made within it. None when absent.
   */
  readonly statementTimeout?: Duration.Input | undefined
}

/**
 * A Postgres client for our schema: the pool, with pending migrations applied before anything
 * that depends on it starts. Embedders may provide their own PgClient layer instead and run
 * `migrate` themselves.
 */
export const layer = (options: DatabaseOptions) =>
  Layer.mergeAll(
    MigrationsLayer,
    Layer.effectDiscard(Metric.update(Metrics.databasePoolConnections, options.maxConnections ?? 10))
  ).pipe(
    Layer.provideMerge(
      PgClient.layer({
        url: Redacted.make(options.url),
        maxConnections: options.maxConnections ?? 10,
        minConnections: options.minConnections,
        ...(options.statementTimeout === undefined
          ? {}
          : {
              connectTimeout: options.statementTimeout,
              startupParameters: {
                statement_timeout: String(
                  Duration.toMillis(Duration.fromInputUnsafe(options.statementTimeout))
                )
              }
            })
      })
    )
  )
