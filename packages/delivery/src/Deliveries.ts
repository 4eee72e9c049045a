import { ConversationHistory, ReadModels } from "@messaging-api/domain"
import { ConversationId, InstallationId, MessageId, Uuid } from "@messaging-api/domain/Ids"
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

/**
 * Where each bot message's delivery stands, for operators: dead letters to redeliver, messages
 * still pending. It reads the bot messages of the `rm_messages` read model (kept current from the
 * log by the domain's Projector, so it trails the log by a moment); there is no second copy.
 */

/** One bot message and its delivery: the message's identity beside `ReadModels.Delivery`'s fields. */
export class DeliveryRecord extends Schema.Class<DeliveryRecord>("DeliveryRecord")({
  /** Our id: the `botpressMessageId` and the `webhook-id` of every attempt. */
  messageId: MessageId,
  /** Our id: the `botpressConversationId`. */
  conversationId: ConversationId,
  installationId: InstallationId,
  type: Schema.String,
  payload: Schema.Json,
  createdAt: Schema.String,
  ...ReadModels.Delivery.fields
}) {}

export interface DeliveryFilter {
  /** true: dead letters only; false: everything but dead letters; absent: all. */
  readonly dead?: boolean | undefined
  /** Whose messages: every installation's, or only these. */
  readonly installationIds: ReadModels.InstallationScope
  /** Newest first; `ReadModels.defaultPageSize` unless given, at most `ReadModels.maxPageSize`. */
  readonly limit?: number | undefined
}

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

const isUuid = Schema.is(Uuid)

export class Deliveries extends Context.Service<
  Deliveries,
  {
    /** Bot messages newest first, with their delivery. */
    list(filter: DeliveryFilter): Effect.Effect<ReadonlyArray<DeliveryRecord>, SqlError.SqlError>
  }
>()("@messaging-api/delivery/Deliveries") {
  /** Over the SqlClient; needs the read models kept current (`Projector.layerFollowing` or `catchUp`). */
  static readonly layer = Layer.effect(
    Deliveries,
    Effect.gen(function* () {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()

      const list = Effect.fn("Deliveries.list")(function* (filter: DeliveryFilter) {
        const scope = filter.installationIds
        const ids = scope === "all" ? [] : scope.filter(isUuid).map((id) => id.toLowerCase())
        if (scope !== "all" && ids.length === 0) return []
        const conditions = [
          sql`direction = 'bot'`,
          filter.dead === undefined
            ? sql`TRUE`
            : filter.dead
              ? sql`delivery_status = 'dead_lettered'`
              : sql`delivery_status <> 'dead_lettered'`,
          scope === "all" ? sql`TRUE` : sql`installation_id IN ${sql.in(ids)}`
        ]
        const rows = yield* sql<DeliveryRow>`
          SELECT message_id::text AS message_id, conversation_id::text AS conversation_id,
                 installation_id::text AS installation_id, type, payload, created_at, delivery_status,
                 attempts, last_status, last_error, next_attempt_at, delivered_at, dead_lettered_at, redeliveries
          FROM rm_messages
          WHERE ${sql.and(conditions)}
          ORDER BY created_at DESC, message_id
          LIMIT ${ConversationHistory.pageSize(filter.limit)}
        `
        return rows.map(fromRow)
      })

      return Deliveries.of({ list })
    })
  )
}
