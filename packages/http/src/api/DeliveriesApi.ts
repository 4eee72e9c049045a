import { ReadModels } from "@messaging-api/domain"
import { DeliveryRecord } from "@messaging-api/domain/Deliveries"
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { Conflict, InvalidRequest, NotFound, ServiceUnavailable } from "./ApiErrors.ts"
import { Authentication } from "./Authentication.ts"
import { AcceptedBotMessage } from "./BotMessagesApi.ts"
import { RequestDeadline } from "./RequestDeadline.ts"
import { RequestValidation } from "./RequestValidation.ts"

/**
 * Where bot messages' deliveries stand, and redelivery of dead letters. Any valid token, limited to
 * the installations it may use: another installation's messages answer 404, like unknown ones.
 */

export const DeliveryView = DeliveryRecord.annotate({ identifier: "Delivery" })

export class DeliveriesApi extends HttpApiGroup.make("deliveries")
  .add(
    HttpApiEndpoint.get("list", "/v1/deliveries", {
      query: {
        dead: Schema.optionalKey(
          Schema.Boolean.annotate({
            description: "`true`: dead letters only; `false`: everything but dead letters; absent: all."
          })
        ),
        installationId: Schema.optionalKey(
          Schema.String.annotate({ description: "Only this installation's messages." })
        ),
        limit: Schema.optionalKey(
          Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: ReadModels.maxPageSize })).annotate({
            description: `How many, 1 to ${ReadModels.maxPageSize}; ${ReadModels.defaultPageSize} when absent.`
          })
        )
      },
      success: Schema.Array(DeliveryView),
      error: [InvalidRequest, NotFound, ServiceUnavailable]
    }).annotateMerge(
      OpenApi.annotations({
        summary: "List bot messages and their delivery, newest first",
        description:
          "From the read models, so a change shows a moment after it happened. An `installationId` the token " +
          "may not use answers 404, like an unknown one."
      })
    ),
    HttpApiEndpoint.post("redeliver", "/v1/deliveries/:botpressMessageId/redeliver", {
      params: { botpressMessageId: Schema.String },
      success: AcceptedBotMessage.pipe(HttpApiSchema.status(202)),
      error: [NotFound, Conflict, ServiceUnavailable]
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Deliver a dead letter again",
        description:
          "Queues the dead-lettered message behind whatever its conversation has pending, with a fresh retry " +
          "schedule and the same `webhook-id`. 409 when the message is not dead-lettered."
      })
    )
  )
  .middleware(RequestValidation)
  .middleware(RequestDeadline)
  .middleware(Authentication)
  .annotateMerge(
    OpenApi.annotations({
      title: "Deliveries",
      description: "Any token, limited to the installations it may use."
    })
  ) {}
