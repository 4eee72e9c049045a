import { ConversationId, InstallationId, MessageId } from "@messaging-api/domain/Ids"
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

/**
 * The deliveries read model: one row per bot message and where its delivery stands, projected
 * from the log by the delivery projector (so it trails the log by a moment).
 */

export const DeliveryStatus = Schema.Literals(["pending", "delivered", "dead_lettered"])
export type DeliveryStatus = typeof DeliveryStatus.Type

export class DeliveryRecord extends Schema.Class<DeliveryRecord>("DeliveryRecord")({
  messageId: MessageId,
  conversationId: ConversationId,
  installationId: InstallationId,
  type: Schema.String,
  status: DeliveryStatus,
  /** Attempts since the message was emitted or last redelivered. */
  attempts: Schema.Int,
  lastStatus: Schema.NullOr(Schema.Int),
  lastError: Schema.NullOr(Schema.String),
  nextAttemptAt: Schema.NullOr(Schema.String),
  emittedAt: Schema.String,
  updatedAt: Schema.String
}) {}

export interface DeliveryFilter {
  /** true: dead letters only; false: everything but dead letters. */
  readonly dead?: boolean | undefined
  readonly installationId?: string | undefined
  /** Newest first; 100 unless given. */
  readonly limit?: number | undefined
}

/** Where one message's delivery stands after some event (every event sets all of these). */
export interface DeliveryState {
  readonly messageId: string
  readonly status: DeliveryStatus
  readonly attempts: number
  readonly lastStatus: number | null
  readonly lastError: string | null
  readonly nextAttemptAt: string | null
  readonly updatedAt: string
  /** Stream version of the event. */
  readonly version: number
}

/** A message first seen in this batch: its fixed fields and its latest state. */
export interface NewDelivery extends DeliveryState {
  readonly conversationId: string
  readonly installationId: string
  readonly type: string
  readonly emittedAt: string
}

interface DeliveryRow {
  readonly message_id: string
  readonly conversation_id: string
  readonly installation_id: string
  readonly type: string
  readonly status: string
  readonly attempts: number
  readonly last_status: number | null
  readonly last_error: string | null
  readonly next_attempt_at: Date | null
  readonly emitted_at: Date
  readonly updated_at: Date
}

const decodeRecord = Schema.decodeUnknownSync(DeliveryRecord)
const fromRow = (row: DeliveryRow): DeliveryRecord =>
  decodeRecord({
    messageId: row.message_id,
    conversationId: row.conversation_id,
    installationId: row.installation_id,
    type: row.type,
    status: row.status,
    attempts: row.attempts,
    lastStatus: row.last_status,
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at?.toISOString() ?? null,
    emittedAt: row.emitted_at.toISOString(),
    updatedAt: row.updated_at.toISOString()
  })

export class Deliveries extends Context.Service<
  Deliveries,
  {
    list(filter?: DeliveryFilter): Effect.Effect<ReadonlyArray<DeliveryRecord>, SqlError.SqlError>
    /** Applies a batch of projected changes (inside the projector's transaction). */
    project(
      created: ReadonlyArray<NewDelivery>,
      changed: ReadonlyArray<DeliveryState>
    ): Effect.Effect<void, SqlError.SqlError>
  }
>()("@messaging-api/delivery/Deliveries") {
  static readonly layer = Layer.effect(
    Deliveries,
    Effect.gen(function* () {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const isUuid = Schema.is(InstallationId)

      const list = Effect.fn("Deliveries.list")(function* (filter: DeliveryFilter = {}) {
        if (filter.installationId !== undefined && !isUuid(filter.installationId)) return []
        const conditions = [
          filter.dead === undefined
            ? sql`TRUE`
            : filter.dead
              ? sql`status = 'dead_lettered'`
              : sql`status <> 'dead_lettered'`,
          filter.installationId === undefined
            ? sql`TRUE`
            : sql`installation_id = ${filter.installationId}::uuid`
        ]
        const rows = yield* sql<DeliveryRow>`
          SELECT message_id::text, conversation_id::text, installation_id::text, type, status, attempts,
                 last_status, last_error, next_attempt_at, emitted_at, updated_at
          FROM deliveries
          WHERE ${sql.and(conditions)}
          ORDER BY emitted_at DESC, message_id
          LIMIT ${filter.limit ?? 100}
        `
        return rows.map(fromRow)
      })

      const project = Effect.fn("Deliveries.project")(function* (
        created: ReadonlyArray<NewDelivery>,
        changed: ReadonlyArray<DeliveryState>
      ) {
        if (created.length > 0) {
          yield* sql`
            INSERT INTO deliveries (message_id, conversation_id, installation_id, type, status, attempts,
                                    last_status, last_error, next_attempt_at, emitted_at, updated_at, version)
            SELECT d."messageId"::uuid, d."conversationId"::uuid, d."installationId"::uuid, d.type, d.status,
                   d.attempts, d."lastStatus", d."lastError", d."nextAttemptAt"::timestamptz,
                   d."emittedAt"::timestamptz, d."updatedAt"::timestamptz, d.version
            FROM jsonb_to_recordset(${JSON.stringify(created)}::jsonb) AS d(
              "messageId" text, "conversationId" text, "installationId" text, type text, status text,
              attempts integer, "lastStatus" integer, "lastError" text, "nextAttemptAt" text,
              "emittedAt" text, "updatedAt" text, version integer)
            ON CONFLICT (message_id) DO UPDATE SET
              status = EXCLUDED.status, attempts = EXCLUDED.attempts, last_status = EXCLUDED.last_status,
              last_error = EXCLUDED.last_error, next_attempt_at = EXCLUDED.next_attempt_at,
              updated_at = EXCLUDED.updated_at, version = EXCLUDED.version
            WHERE deliveries.version < EXCLUDED.version
          `
        }
        if (changed.length > 0) {
          yield* sql`
            UPDATE deliveries SET
              status = d.status, attempts = d.attempts, last_status = d."lastStatus", last_error = d."lastError",
              next_attempt_at = d."nextAttemptAt"::timestamptz, updated_at = d."updatedAt"::timestamptz,
              version = d.version
            FROM jsonb_to_recordset(${JSON.stringify(changed)}::jsonb) AS d(
              "messageId" text, status text, attempts integer, "lastStatus" integer, "lastError" text,
              "nextAttemptAt" text, "updatedAt" text, version integer)
            WHERE deliveries.message_id = d."messageId"::uuid AND deliveries.version < d.version
          `
        }
      })

      return Deliveries.of({ list, project })
    })
  )
}
