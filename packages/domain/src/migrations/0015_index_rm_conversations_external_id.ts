import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Finding conversations by the caller's conversation id (the console's search,
 * `GET /v1/conversations?externalConversationId=`), per installation or across all of them.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE INDEX rm_conversations_external_id_idx
      ON rm_conversations (external_conversation_id, installation_id)
  `
})
