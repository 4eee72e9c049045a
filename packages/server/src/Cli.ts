import { Migrations } from "@messaging-api/domain"
import { Console, Effect, Layer } from "effect"
import { Command } from "effect/cli"
import { DatabaseLive } from "./DatabaseLive.ts"
import { ServerConfig } from "./ServerConfig.ts"

/** `messaging-api <command>`: every command applies pending migrations first (DatabaseLive does). */

export const DatabaseWithConfig = DatabaseLive.pipe(Layer.provideMerge(ServerConfig.layer))

const migrate = Command.make("migrate", {}, () =>
  Effect.gen(function* () {
    yield* Console.log(`migrations applied (latest: ${Migrations.latestMigrationId})`)
  }).pipe(Effect.provide(DatabaseWithConfig))
).pipe(Command.withDescription("Apply pending database migrations and exit"))

export const cli = Command.make("messaging-api").pipe(
  Command.withDescription("A self-hosted, event-sourced Messaging API"),
  Command.withSubcommands([migrate])
)
