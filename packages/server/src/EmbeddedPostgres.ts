/**
 * The embedded Postgres used when DATABASE_URL is unset: PGlite (Postgres compiled to WASM) served on
 * 127.0.0.1 through `@electric-sql/pglite-socket`, so `@effect/sql-pg` talks to it over TCP like to any
 * server. No TLS: the socket answers `SSLRequest` with `N` (sql-pg only asks with `sslmode` in the URL).
 *
 * This file is the service (open PGlite, serve it, close both with the scope). PGlite is one backend
 * session shared by every client: `embedded/SessionQueue.ts` hands it to one client at a time (its
 * header says why pglite-socket's own queue is replaced, with what was measured), `embedded/SocketServer.ts`
 * accepts the clients and `embedded/WireProtocol.ts` holds the protocol bits the queue acts on.
 * What follows for code that uses the embedded database:
 *
 * - Transactions run one at a time, so xid8 columns, `pg_current_xact_id()` and
 *   `pg_snapshot_xmin(pg_current_snapshot())` work, and xmin is always the current or next xid: no
 *   transaction is ever in flight behind a reader.
 * - Limits: no parallelism (a bigger pool adds waiters, not throughput); a client inside a transaction
 *   blocks every other one with no timeout, so code that waits inside a transaction for a query on
 *   ANOTHER connection deadlocks, and new connections wait too (sql-pg's connect timeout can fire);
 *   session state (SET, temp tables, advisory locks) is shared; CancelRequest is ignored; a data
 *   directory must not be opened by two processes. sql-pg's prepared statement names carry a random
 *   per-connection prefix, so they do not collide.
 */
import { mkdir } from "node:fs/promises"
import { PGlite } from "@electric-sql/pglite"
import { Context, Effect, Layer, Schema, type Scope } from "effect"
import { listen, stop } from "./embedded/SocketServer.ts"

export class EmbeddedPostgresError extends Schema.TaggedError<EmbeddedPostgresError>()(
  "EmbeddedPostgresError",
  {
    message: Schema.String,
    cause: Schema.optional(Schema.Defect())
  }
) {}

export interface EmbeddedPostgresOptions {
  /** Directory holding the cluster; created if missing. Omit it (or set `memory`) for an in-memory database. */
  readonly dataDir?: string | undefined
  /** Forces an in-memory database even when `dataDir` is set. */
  readonly memory?: boolean | undefined
  /** TCP port on 127.0.0.1; `0` (the default) lets the OS pick a free one. */
  readonly port?: number | undefined
  /** Clients accepted at once; must cover the pool plus listener connections. Defaults to 64. */
  readonly maxConnections?: number | undefined
}

export interface EmbeddedPostgresInfo {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`, no password, TLS off. */
  readonly url: string
  readonly host: string
  readonly port: number
  /** `undefined` when the database lives in memory. */
  readonly dataDir: string | undefined
}

const host = "127.0.0.1"

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const openDatabase = Effect.fnUntraced(function* (dataDir: string | undefined) {
  if (dataDir !== undefined) {
    yield* Effect.tryPromise({
      try: () => mkdir(dataDir, { recursive: true }),
      catch: (cause) =>
        new EmbeddedPostgresError({ message: `Cannot create ${dataDir}: ${describe(cause)}`, cause })
    })
  }
  return yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const db = new PGlite(dataDir ?? "memory://")
        await db.waitReady
        return db
      },
      catch: (cause) =>
        new EmbeddedPostgresError({
          message: `Cannot open PGlite ${dataDir === undefined ? "in memory" : `at ${dataDir}`}: ${describe(cause)}`,
          cause
        })
    }),
    (db) =>
      db.closed
        ? Effect.void
        : Effect.tryPromise({
            try: () => db.close(),
            catch: (cause) => new EmbeddedPostgresError({ message: "Cannot close PGlite", cause })
          }).pipe(Effect.catch((error) => Effect.logWarning(error.message, error.cause)))
  )
})

const serve = (db: PGlite, port: number, maxConnections: number) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => listen(db, host, port, maxConnections),
      catch: (cause) =>
        new EmbeddedPostgresError({ message: `Cannot listen on ${host}:${port}: ${describe(cause)}`, cause })
    }),
    (listening) =>
      Effect.tryPromise({
        try: () => stop(listening),
        catch: (cause) =>
          new EmbeddedPostgresError({ message: "Cannot stop the PGlite socket server", cause })
      }).pipe(Effect.catch((error) => Effect.logWarning(error.message, error.cause)))
  )

/**
 * Opens PGlite and serves it on 127.0.0.1 for the lifetime of the scope. Closing the scope closes the
 * client connections and the listener, then PGlite (finalizers run in reverse order).
 */
export const start = Effect.fn("EmbeddedPostgres.start")(function* (
  options: EmbeddedPostgresOptions = {}
): Effect.fn.Return<EmbeddedPostgresInfo, EmbeddedPostgresError, Scope.Scope> {
  const dataDir = options.memory === true ? undefined : options.dataDir
  const db = yield* openDatabase(dataDir)
  const { port } = yield* serve(db, options.port ?? 0, options.maxConnections ?? 64)
  return { url: `postgres://postgres@${host}:${port}/postgres`, host, port, dataDir }
})

export class EmbeddedPostgres extends Context.Service<EmbeddedPostgres, EmbeddedPostgresInfo>()(
  "@messaging-api/server/EmbeddedPostgres"
) {
  static readonly start = start
  static readonly layer = (options: EmbeddedPostgresOptions = {}) =>
    Layer.effect(EmbeddedPostgres, start(options))
}
