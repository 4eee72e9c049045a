import { Ids, InstallationScope, ReadModels } from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import { Effect, Option, Schema } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { CurrentAccessToken } from "../api/Authentication.ts"
import { answering } from "./ErrorAnswers.ts"

const decodeConversationId = Schema.decodeUnknownOption(Ids.ConversationId)

export const BotMessagesHandlers = HttpApiBuilder.group(
  Api,
  "botMessages",
  Effect.fn(function* (handlers) {
    const conversations = yield* Conversations
    return answering(handlers).handle(
      "post",
      Effect.fn("BotMessages.post")(function* ({ params, payload }) {
        const token = yield* CurrentAccessToken
        const conversationId = decodeConversationId(params.conversationId)
        if (Option.isNone(conversationId)) {
          return yield* new ReadModels.ConversationNotFound({ conversationId: params.conversationId })
        }
        // Answers only after the BotMessageEmitted event is committed.
        const accepted = yield* conversations.post(
          conversationId.value,
          payload,
          InstallationScope.ofToken(token)
        )
        return { botpressMessageId: accepted.messageId, botpressConversationId: accepted.conversationId }
      })
    )
  })
)
