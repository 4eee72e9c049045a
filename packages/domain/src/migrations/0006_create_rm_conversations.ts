import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Read model: one row per conversation, projected from its stream by the Projector.
 * `version` is the stream version applied so far: events at or below it are never applied again,
 * so replaying a batch after a crash changes nothing. The counts follow the conversation's
 * `rm_messages` rows: each batch moves them by what its changed rows count for now minus before.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE rm_conversations (
      conversation_id           uuid PRIMARY KEY,
      installation_id           uuid        NOT NULL,
      external_conversation_id  text        NOT NULL,
      started_at                timestamptz NOT NULL,
      last_activity_at          timestamptz NOT NULL,
      -- who wrote last: bot messages posted on the bot's own initiative are addressed to them
      last_user_id              uuid,
      user_message_count        integer     NOT NULL DEFAULT 0,
      bot_message_count         integer     NOT NULL DEFAULT 0,
      open_turn_count           integer     NOT NULL DEFAULT 0,
      pending_count             integer     NOT NULL DEFAULT 0,
      delivered_count           integer     NOT NULL DEFAULT 0,
      dead_lettered_count       integer     NOT NULL DEFAULT 0,
      version                   integer     NOT NULL
    )
  `
  // Listing pages newest first, per installation or across all of them.
  yield* sql`
    CREATE INDEX rm_conversations_installation_started_idx
      ON rm_conversations (installation_id, started_at DESC, conversation_id DESC)
  `
  yield* sql`CREATE INDEX rm_conversations_started_idx ON rm_conversations (started_at DESC, conversation_id DESC)`
})
