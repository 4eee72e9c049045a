import { ConversationHistory, InstallationScope, OwnRows } from "@messaging-api/domain"
import { Deliveries, type DeliveryFilter, DeliveryRecord } from "@messaging-api/domain/Deliveries"
import { DeliveryFields, deliveryColumns } from "@messaging-api/domain/HistoryRows"
import { InstantFromDate } from "@messaging-api/domain/Instant"
import { Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The deliveries read model over `rm_messages`: its bot messages, kept current from the log by
 * the domain's Projector (so it trails the log by a moment); there is no second copy.
 */

/** A bot row of rm_messages, selected under the record's names. */
const DeliveryRow = Schema.Struct({
  ...DeliveryRecord.fields,
  createdAt: InstantFromDate,
  ...DeliveryFields
}).pipe(Schema.decodeTo(DeliveryRecord))

/** Over the SqlClient; needs the read models kept current (`Projector.layerFollowing` or `catchUp`). */
export const layer = Layer.effect(
  Deliveries,
  Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()

    const deliveries = OwnRows.findAll({
      Request: Schema.Struct({
        dead: Schema.UndefinedOr(Schema.Boolean),
        scope: Schema.toType(InstallationScope.InstallationScope),
        limit: Schema.Int
      }),
      Result: DeliveryRow,
      execute: ({ dead, limit, scope }) => sql`
        SELECT message_id::text AS "messageId", conversation_id::text AS "conversationId",
               installation_id::text AS "installationId", type, payload, created_at AS "createdAt",
               ${deliveryColumns(sql)}
        FROM rm_messages
        WHERE direction = 'bot'
          AND ${
            dead === undefined
              ? sql`TRUE`
              : dead
                ? sql`delivery_status = 'dead_lettered'`
                : sql`delivery_status <> 'dead_lettered'`
          }
          AND ${InstallationScope.sqlFilter(sql, scope)}
        ORDER BY created_at DESC, message_id
        LIMIT ${limit}
      `
    })

    const list = Effect.fn("Deliveries.list")((filter: DeliveryFilter) =>
      deliveries({
        dead: filter.dead,
        scope: filter.installationIds,
        limit: ConversationHistory.pageSize(filter.limit)
      })
    )

    return Deliveries.of({ list })
  })
)
