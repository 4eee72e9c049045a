import { ConversationHistory, InstallationScope } from "@messaging-api/domain"
import { Deliveries, type DeliveryFilter, DeliveryRecord } from "@messaging-api/domain/Deliveries"
import { Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The deliveries read model over `rm_messages`: its bot messages, kept current from the log by
 * the domain's Projector (so it trails the log by a moment); there is no second copy.
 */

interface DeliveryRow extends ConversationHistory.DeliveryColumns {
  readonly message_id: string
  readonly conversation_id: string
  readonly installation_id: string
  readonly type: string
  readonly payload: unknown
  readonly created_at: Date
}

const decodeRecord = Schema.decodeUnknownSync(DeliveryRecord)
const fromRow = (row: DeliveryRow): DeliveryRecord =>
  decodeRecord({
    messageId: row.message_id,
    conversationId: row.conversation_id,
    installationId: row.installation_id,
    type: row.type,
    payload: row.payload,
    createdAt: row.created_at.toISOString(),
    ...ConversationHistory.deliveryOf(row)
  })

/** Over the SqlClient; needs the read models kept current (`Projector.layerFollowing` or `catchUp`). */
export const layer = Layer.effect(
  Deliveries,
  Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()

    const list = Effect.fn("Deliveries.list")(function* (filter: DeliveryFilter) {
      const rows = yield* sql<DeliveryRow>`
        SELECT message_id::text AS message_id, conversation_id::text AS conversation_id,
               installation_id::text AS installation_id, type, payload, created_at, delivery_status,
               attempts, last_status, last_error, next_attempt_at, delivered_at, dead_lettered_at, redeliveries
        FROM rm_messages
        WHERE direction = 'bot'
          AND ${
            filter.dead === undefined
              ? sql`TRUE`
              : filter.dead
                ? sql`delivery_status = 'dead_lettered'`
                : sql`delivery_status <> 'dead_lettered'`
          }
          AND ${InstallationScope.sqlFilter(sql, filter.installationIds)}
        ORDER BY created_at DESC, message_id
        LIMIT ${ConversationHistory.pageSize(filter.limit)}
      `
      return rows.map(fromRow)
    })

    return Deliveries.of({ list })
  })
)
