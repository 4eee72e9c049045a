import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Read model: every user and bot message of every conversation. A user message carries its bot
 * turn (`turn_*`), a bot message its delivery (`delivery_status`, attempts, last error...).
 * `stream_version` is the version of the event that created the message: its place in the
 * conversation, and the key pages are ordered by. Bot messages with their delivery are also the
 * deliveries read model (`deliveries list`, `GET /v1/deliveries`).
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE rm_messages (
      message_id           uuid PRIMARY KEY,
      conversation_id      uuid        NOT NULL,
      installation_id      uuid        NOT NULL,
      stream_version       integer     NOT NULL,
      direction            text        NOT NULL CHECK (direction IN ('user', 'bot')),
      external_message_id  text,
      -- user messages: the author; bot messages: the addressee (botpressUserId on the wire)
      user_id              uuid,
      external_user_id     text,
      in_reply_to          uuid,
      type                 text        NOT NULL,
      text                 text,
      payload              jsonb       NOT NULL,
      created_at           timestamptz NOT NULL,
      turn_status          text CHECK (turn_status IN ('open', 'completed', 'failed')),
      turn_failures        integer,
      delivery_status      text CHECK (delivery_status IN ('pending', 'delivered', 'dead_lettered')),
      attempts             integer     NOT NULL DEFAULT 0,
      last_status          integer,
      last_error           text,
      next_attempt_at      timestamptz,
      delivered_at         timestamptz,
      dead_lettered_at     timestamptz,
      redeliveries         integer     NOT NULL DEFAULT 0,
      -- the stream version of the last event applied to the row: an older one is never applied again
      version              integer     NOT NULL,
      CONSTRAINT rm_messages_direction_fields CHECK (
        (direction = 'user' AND turn_status IS NOT NULL AND delivery_status IS NULL) OR
        (direction = 'bot' AND turn_status IS NULL AND delivery_status IS NOT NULL)
      ),
      CONSTRAINT rm_messages_conversation_version_key UNIQUE (conversation_id, stream_version)
    )
  `
  yield* sql`
    CREATE INDEX rm_messages_delivery_idx ON rm_messages (installation_id, delivery_status, created_at)
      WHERE direction = 'bot'
  `
  // `deliveries list --dead` across every installation, newest first.
  yield* sql`
    CREATE INDEX rm_messages_delivery_status_idx ON rm_messages (delivery_status, created_at)
      WHERE direction = 'bot'
  `
})
