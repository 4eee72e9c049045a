import { Schema } from "effect"

/**
 * Where a bot message's delivery stands: in the aggregate's state, in the read model's rows and
 * in the API's `Delivery`. "pull": a pull-only conversation's message, read by the application and
 * never POSTed.
 */
export const DeliveryStatus = Schema.Literals(["pending", "delivered", "dead_lettered", "pull"])
export type DeliveryStatus = typeof DeliveryStatus.Type
