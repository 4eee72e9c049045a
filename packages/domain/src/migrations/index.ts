import { Effect, Layer } from "effect"
import { Migrator, SqlClient } from "effect/sql"
import createEvents from "./0001_create_events.ts"
import createInstallations from "./0002_create_installations.ts"
import createAccessTokens from "./0003_create_access_tokens.ts"
import createProjectionCheckpoints from "./0004_create_projection_checkpoints.ts"
import createConversationWork from "./0005_create_conversation_work.ts"
import createRmConversations from "./0006_create_rm_conversations.ts"
import createRmMessages from "./0007_create_rm_messages.ts"
import createRmDeliveryAttempts from "./0008_create_rm_delivery_attempts.ts"
import createConversationSnapshots from "./0009_create_conversation_snapshots.ts"
import addPreviousSigningSecret from "./0010_add_previous_signing_secret.ts"
import createEndpointHealth from "./0011_create_endpoint_health.ts"
import createClusterShards from "./0012_create_cluster_shards.ts"
import allowPullOnlyInstallations from "./0014_allow_pull_only_installations.ts"
import indexRmConversationsExternalId from "./0015_index_rm_conversations_external_id.ts"
import readModelsFillfactor from "./0016_read_models_fillfactor.ts"

/** Every migration, by `<id>_<name>`. Each file holds one change a DBA can read on its own. */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "0001_create_events": createEvents,
  "0002_create_installations": createInstallations,
  "0003_create_access_tokens": createAccessTokens,
  "0004_create_projection_checkpoints": createProjectionCheckpoints,
  "0005_create_conversation_work": createConversationWork,
  "0006_create_rm_conversations": createRmConversations,
  "0007_create_rm_messages": createRmMessages,
  "0008_create_rm_delivery_attempts": createRmDeliveryAttempts,
  "0009_create_conversation_snapshots": createConversationSnapshots,
  "0010_add_previous_signing_secret": addPreviousSigningSecret,
  "0011_create_endpoint_health": createEndpointHealth,
  "0012_create_cluster_shards": createClusterShards,
  "0014_allow_pull_only_installations": allowPullOnlyInstallations,
  "0015_index_rm_conversations_external_id": indexRmConversationsExternalId,
  "0016_read_models_fillfactor": readModelsFillfactor
}

const run = Migrator.make({})

/**
 * A migration may take as long as it needs: the pool's `statement_timeout` (DATABASE_STATEMENT_TIMEOUT)
 * is lifted for the migrator's transaction.
 */
const withoutStatementTimeout = <E>(migration: Effect.Effect<void, E, SqlClient.SqlClient>) =>
  SqlClient.SqlClient.pipe(
    Effect.flatMap((sql) => sql`SET LOCAL statement_timeout = 0`),
    Effect.andThen(migration)
  )

/**
 * Applies pending migrations. Safe when several processes start at once: the migrator locks its
 * table, and a process that finds the work done moves on.
 */
export const migrate = run({
  loader: Migrator.fromRecord(
    Object.fromEntries(
      Object.entries(migrations).map(([name, migration]) => [name, withoutStatementTimeout(migration)])
    )
  ),
  table: "messaging_api_migrations"
})

export const MigrationsLayer = Layer.effectDiscard(migrate)

/** The id of the newest migration (ids may leave gaps between areas of the schema). */
export const latestMigrationId = Math.max(...Object.keys(migrations).map((key) => Number.parseInt(key, 10)))
