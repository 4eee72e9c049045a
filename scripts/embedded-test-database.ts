/**
 * The embedded Postgres of the vitest global setup (scripts/test-database.ts) when DATABASE_URL is unset:
 * an in-memory PGlite served on a random 127.0.0.1 port for the whole run, by the server package's
 * EmbeddedPostgres (see there for what the embedded database can and cannot do).
 */
import { EmbeddedPostgres } from "@messaging-api/server/EmbeddedPostgres"
import { Cause, Effect, Exit, Scope } from "effect"

export async function startEmbeddedTestDatabase(): Promise<{ url: string; stop: () => Promise<void> }> {
  const scope = Effect.runSync(Scope.make())
  const stop = () => Effect.runPromise(Scope.close(scope, Exit.void))
  const started = await Effect.runPromiseExit(
    EmbeddedPostgres.start({ memory: true }).pipe(Scope.provide(scope))
  )
  if (Exit.isFailure(started)) {
    await stop()
    throw new Error(`Cannot start the embedded test database: ${Cause.pretty(started.cause)}`)
  }
  return { url: started.value.url, stop }
}
