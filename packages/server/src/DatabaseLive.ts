import { readFile, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Database } from "@messaging-api/domain"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import { EmbeddedPostgres } from "./EmbeddedPostgres.ts"
import { ServerConfig } from "./ServerConfig.ts"

/**
 * The database the process runs on: DATABASE_URL when set, otherwise the embedded Postgres under
 * DATA_DIR. A data directory can be opened by one process only, so the process that opens it
 * publishes its socket in `DATA_DIR/embedded.json`; a second process (a CLI command while `serve`
 * runs) connects to that socket instead of opening the directory again.
 */
export interface ResolvedDatabase {
  readonly url: Redacted.Redacted<string>
  readonly embedded: boolean
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** `DATA_DIR/embedded.json`: the process that runs the embedded database, and its socket's URL. */
const RunningEmbedded = Schema.fromJsonString(Schema.Struct({ pid: Schema.Int, url: Schema.String }))

const runningEmbedded = (file: string) =>
  Effect.tryPromise(() => readFile(file, "utf8")).pipe(
    Effect.flatMap(Schema.decodeUnknownEffect(RunningEmbedded)),
    Effect.map((running) =>
      running.pid !== process.pid && isAlive(running.pid) ? Option.some(running.url) : Option.none()
    ),
    Effect.orElseSucceed(() => Option.none<string>())
  )

const resolve = Effect.gen(function* () {
  const config = yield* ServerConfig
  if (Option.isSome(config.databaseUrl)) return { url: config.databaseUrl.value, embedded: false }
  const file = join(config.dataDir, "embedded.json")
  const running = yield* runningEmbedded(file)
  if (Option.isSome(running)) return { url: Redacted.make(running.value), embedded: true }
  const embedded = yield* EmbeddedPostgres.start({ dataDir: config.dataDir })
  yield* Effect.acquireRelease(
    Effect.promise(() =>
      writeFile(file, Schema.encodeSync(RunningEmbedded)({ pid: process.pid, url: embedded.url }))
    ),
    () => Effect.promise(() => rm(file, { force: true }))
  )
  return { url: Redacted.make(embedded.url), embedded: true }
})

/** The SqlClient/PgClient pool on the resolved database, migrated before anything uses it. */
export const DatabaseLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ServerConfig
    const database = yield* resolve
    return Database.layer({
      url: Redacted.value(database.url),
      // The embedded database runs one statement at a time; a big pool would only queue.
      maxConnections: database.embedded ? 4 : config.databasePoolSize,
      minConnections: database.embedded ? 4 : undefined,
      // The embedded database runs one statement at a time: its queue is not a hung server.
      statementTimeout: database.embedded ? undefined : config.databaseStatementTimeout
    })
  })
)

/** The database as configured by the environment, with the configuration itself. */
export const DatabaseWithConfig = DatabaseLive.pipe(Layer.provideMerge(ServerConfig.layer))
