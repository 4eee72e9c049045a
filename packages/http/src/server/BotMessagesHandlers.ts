import { Ids, InstallationScope } from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import { Effect, Option, Schema } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { InvalidRequest, NotFound, ServiceUnavailable } from "../api/ApiErrors.ts"
import { CurrentAccessToken } from "../api/Authentication.ts"

const decodeConversationId = Schema.decodeUnknownOption(Ids.ConversationId)

const conversationNotFound = (id: string) =>
  new NotFound({ error: { code: "conversation_not_found", message: `no conversation ${id}` } })

export const BotMessagesHandlers = HttpApiBuilder.group(
  Api,
  "botMessages",
  Effect.fn(function* (handlers) {
    const conversations = yield* Conversations
    return handlers.handle(
      "post",
      Effect.fn("BotMessages.post")(function* ({ params, payload }) {
        const token = yield* CurrentAccessToken
        const conversationId = decodeConversationId(params.conversationId)
        if (Option.isNone(conversationId)) return yield* conversationNotFound(params.conversationId)
        // Answers only after the BotMessageEmitted event is committed.
        const accepted = yield* conversations
          .post(conversationId.value, payload, InstallationScope.ofToken(token))
          .pipe(
            Effect.catchTags({
              ConversationNotFound: () => Effect.fail(conversationNotFound(params.conversationId)),
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
