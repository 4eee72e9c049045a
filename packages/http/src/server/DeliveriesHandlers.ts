import { Ids, InstallationScope } from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import { Deliveries } from "@messaging-api/domain/Deliveries"
import { Effect, Option, Schema } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { Conflict, databaseUnavailable, NotFound, ServiceUnavailable } from "../api/ApiErrors.ts"
import { CurrentAccessToken } from "../api/Authentication.ts"

const decodeInstallationId = Schema.decodeUnknownOption(Ids.InstallationId)
const decodeMessageId = Schema.decodeUnknownOption(Ids.MessageId)

const messageNotFound = (id: string) =>
  new NotFound({ error: { code: "message_not_found", message: `no bot message ${id}` } })

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
      if (Option.isNone(narrowed)) {
        return yield* new NotFound({
          error: { code: "installation_not_found", message: `no installation ${installationId}` }
        })
      }
      return narrowed.value
    })

    return handlers.handleAll({
      list: Effect.fn("Deliveries.list")(function* ({ query }) {
        const installationIds = yield* listScope(query.installationId)
        return yield* deliveries
          .list({ dead: query.dead, installationIds, limit: query.limit })
          .pipe(Effect.mapError(databaseUnavailable))
      }),
      redeliver: Effect.fn("Deliveries.redeliver")(function* ({ params }) {
        const token = yield* CurrentAccessToken
        const messageId = decodeMessageId(params.botpressMessageId)
        if (Option.isNone(messageId)) return yield* messageNotFound(params.botpressMessageId)
        const accepted = yield* conversations
          .redeliver(messageId.value, InstallationScope.ofToken(token))
          .pipe(
            Effect.catchTags({
              UnknownBotMessage: () => Effect.fail(messageNotFound(params.botpressMessageId)),
              NotDeadLettered: (error) =>
                Effect.fail(
                  new Conflict({
                    error: {
                      code: "not_dead_lettered",
                      message: `bot message ${params.botpressMessageId} is ${error.status}, not dead-lettered: only dead letters are redelivered`
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
    })
  })
)
