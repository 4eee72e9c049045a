import { Conversations } from "@messaging-api/delivery/Conversations"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { InvalidRequest, NotFound, ServiceUnavailable } from "../api/ApiErrors.ts"
import { CurrentAccessToken } from "../api/Authentication.ts"

export const BotMessagesHandlers = HttpApiBuilder.group(
  Api,
  "botMessages",
  Effect.fn(function* (handlers) {
    const conversations = yield* Conversations
    return handlers.handle(
      "post",
      Effect.fn("BotMessages.post")(function* ({ params, payload }) {
        const token = yield* CurrentAccessToken
        const conversationId = params.conversationId.toLowerCase()
        // Answers only after the BotMessageEmitted event is committed.
        const accepted = yield* conversations
          .post(conversationId, payload, token.installationIds ?? "all")
          .pipe(
            Effect.catchTags({
              ConversationNotFound: () =>
                Effect.fail(
                  new NotFound({
                    error: {
                      code: "conversation_not_found",
                      message: `no conversation ${params.conversationId}`
                    }
                  })
                ),
              InvalidMessagePayload: (invalid) =>
                Effect.fail(
                  new InvalidRequest({
                    error: {
                      code: "invalid_payload",
                      message: `the payload is not a valid ${invalid.type} message: ${invalid.message}`,
                      details: [{ field: "payload", message: invalid.message }]
                    }
                  })
                ),
              ConversationUnavailable: (error) =>
                Effect.fail(
                  new ServiceUnavailable({
                    error: { code: "conversation_unavailable", message: error.message }
                  })
                )
            })
          )
        return { botpressMessageId: accepted.messageId, botpressConversationId: accepted.conversationId }
      })
    )
  })
)
