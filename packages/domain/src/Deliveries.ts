import { Context, type Effect, Schema } from "effect"
import type { SqlError } from "effect/sql"
import { ConversationId, InstallationId, MessageId } from "./Ids.ts"
import type { InstallationScope } from "./InstallationScope.ts"
import { Delivery } from "./ReadModels.ts"

/**
 * Where each bot message's delivery stands, for operators, as a port: dead letters to redeliver,
 * messages still pending. The HTTP API (`GET /v1/deliveries`) and the CLI ask it; the delivery
 * package answers it from the bot messages of the `rm_messages` read model.
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
  ...Delivery.fields
}) {}

export interface DeliveryFilter {
  /** true: dead letters only; false: everything but dead letters; absent: all. */
  readonly dead?: boolean | undefined
  /** Whose messages: every installation's, or only these. */
  readonly installationIds: InstallationScope
  /** Newest first; `ReadModels.defaultPageSize` unless given, at most `ReadModels.maxPageSize`. */
  readonly limit?: number | undefined
}

export class Deliveries extends Context.Service<
  Deliveries,
  {
    /** Bot messages newest first, with their delivery (the read model trails the log by a moment). */
    list(filter: DeliveryFilter): Effect.Effect<ReadonlyArray<DeliveryRecord>, SqlError.SqlError>
  }
>()("@messaging-api/domain/Deliveries") {}
