import { Storable } from "@messaging-api/domain"
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { InvalidRequest, NotFound, ServiceUnavailable } from "./ApiErrors.ts"
import { Authentication } from "./Authentication.ts"
import { RequestDeadline } from "./RequestDeadline.ts"
import { RequestValidation } from "./RequestValidation.ts"

/**
 * Messages a bot sends on its own, after its turn: an http bot may answer a turn with an array of
 * messages and post more later here, with a token of the conversation's installation. Each one is
 * appended to the conversation and delivered after whatever is pending, like any reply.
 */

export const NewBotMessage = Schema.Struct({
  type: Schema.NonEmptyString.check(Storable.isStorableText).check(Schema.isMaxLength(256)).annotate({
    description: "`text`, `markdown`, `image`, `choice`…: Botpress's types; any other type passes through."
  }),
  payload: Storable.StorableJson.annotate({
    description:
      "The payload of that type (e.g. `{ text }` for text, `{ imageUrl }` for image), nested at most 64 levels."
  })
}).annotate({ identifier: "NewBotMessage" })
export type NewBotMessage = typeof NewBotMessage.Type

/** Our ids for an accepted bot message: its `botpressMessageId` is the `webhook-id` of its deliveries. */
export const AcceptedBotMessage = Schema.Struct({
  botpressMessageId: Schema.String,
  botpressConversationId: Schema.String
}).annotate({ identifier: "AcceptedBotMessage" })
export type AcceptedBotMessage = typeof AcceptedBotMessage.Type

export class BotMessagesApi extends HttpApiGroup.make("botMessages")
  .add(
    HttpApiEndpoint.post("post", "/v1/conversations/:conversationId/messages", {
      params: {
        conversationId: Schema.String.annotate({ description: "Our id: the botpressConversationId." })
      },
      payload: NewBotMessage,
      success: AcceptedBotMessage.pipe(HttpApiSchema.status(202)),
      error: [InvalidRequest, NotFound, ServiceUnavailable]
    }).annotateMerge(
      OpenApi.annotations({
        summary: "Send a bot message to a conversation",
        description:
          "Answers 202 once the message is durable; it is delivered to the response endpoint in order, " +
          "after the messages already pending. A payload that does not fit a Botpress type answers 400. A " +
          "conversation of an installation the token may not use answers 404, like an unknown one."
      })
    )
  )
  .middleware(RequestValidation)
  .middleware(RequestDeadline)
  .middleware(Authentication)
  .annotateMerge(
    OpenApi.annotations({
      title: "Bot messages",
      description: "For bots: any token allowed on the conversation's installation."
    })
  ) {}
