import { ConversationCommands, Ids, InstallationScope, Installations } from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import { Deliveries } from "@messaging-api/domain/Deliveries"
import { Effect, Option, Schema } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { CurrentAccessToken } from "../api/Authentication.ts"
import { answering } from "./ErrorAnswers.ts"

const decodeInstallationId = Schema.decodeUnknownOption(Ids.InstallationId)
const decodeMessageId = Schema.decodeUnknownOption(Ids.MessageId)

export const DeliveriesHandlers = HttpApiBuilder.group(
  Api,
  "deliveries",
  Effect.fn(function* (handlers) {
    const conversations = yield* Conversations
    const deliveries = yield* Deliveries

    /**
     * The token's installations, narrowed to `installationId` when one is asked for. An id the token
     * may not use is not found, whether it exists or not, so a token learns nothing about others.
     */
    const listScope = Effect.fnUntraced(function* (installationId: string | undefined) {
      const scope = InstallationScope.ofToken(yield* CurrentAccessToken)
      if (installationId === undefined) return scope
      const narrowed = Option.flatMapNullishOr(decodeInstallationId(installationId), (id) =>
        InstallationScope.narrow(scope, id)
      )
      if (Option.isNone(narrowed))
        return yield* new Installations.InstallationNotFound({ id: installationId })
      return narrowed.value
    })

    return answering(handlers).handleAll({
      list: Effect.fn("Deliveries.list")(function* ({ query }) {
        const installationIds = yield* listScope(query.installationId)
        return yield* deliveries.list({ dead: query.dead, installationIds, limit: query.limit })
      }),
      redeliver: Effect.fn("Deliveries.redeliver")(function* ({ params }) {
        const token = yield* CurrentAccessToken
        const messageId = decodeMessageId(params.botpressMessageId)
        if (Option.isNone(messageId)) {
          return yield* new ConversationCommands.UnknownBotMessage({ messageId: params.botpressMessageId })
        }
        const accepted = yield* conversations.redeliver(messageId.value, InstallationScope.ofToken(token))
        return { botpressMessageId: accepted.messageId, botpressConversationId: accepted.conversationId }
      })
    })
  })
)
