import { Migrations } from "@messaging-api/domain"
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import { clusterCommand } from "./commands/cluster.ts"
import { conversationsCommand } from "./commands/conversations.ts"
import { deliveriesCommand } from "./commands/deliveries.ts"
import { installationsCommand } from "./commands/installations.ts"
import { replayCommand } from "./commands/replay.ts"
import { serveCommand } from "./commands/serve.ts"
import { tokensCommand } from "./commands/tokens.ts"
import { DatabaseWithConfig } from "./DatabaseLive.ts"

/** `messaging-api <command>`: every command applies pending migrations first (DatabaseLive does). */

const migrate = Command.make("migrate", {}, () =>
  Effect.gen(function* () {
    yield* Console.log(`migrations applied (latest: ${Migrations.latestMigrationId})`)
  }).pipe(Effect.provide(DatabaseWithConfig))
).pipe(Command.withDescription("Apply pending database migrations and exit"))

export const cli = Command.make("messaging-api").pipe(
  Command.withDescription("A self-hosted, event-sourced Messaging API"),
  Command.withSubcommands([
    serveCommand,
    migrate,
    installationsCommand,
    tokensCommand,
    conversationsCommand,
    deliveriesCommand,
    replayCommand,
    clusterCommand
  ])
)
