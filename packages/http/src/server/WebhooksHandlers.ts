import { Conversations } from "@messaging-api/delivery/Conversations"
import { hotSpan } from "@messaging-api/domain/Tracing"
import { DateTime, Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { Conflict, ServiceUnavailable } from "../api/ApiErrors.ts"
import { CurrentInstallation } from "../api/WebhookAccess.ts"
import { receiveCommand, receivedResponse } from "./ReceiveCommand.ts"

export const WebhooksHandlers = HttpApiBuilder.group(
  Api,
  "webhooks",
  Effect.fn(function* (handlers) {
    const conversations = yield* Conversations
    return handlers.handle(
      "receive",
      Effect.fnUntraced(function* ({ payload }) {
        const installation = yield* CurrentInstallation
        const at = DateTime.formatIso(yield* DateTime.now)
        const command = receiveCommand(installation.id, payload, at)
        // Answers only after the UserMessageReceived event is committed.
        const received = yield* conversations.receive(command).pipe(
          Effect.catchTags({
            MessageIdReused: (error) =>
              Effect.fail(
                new Conflict({
                  error: {
                    code: "message_id_reused",
                    message: `messageId ${error.externalMessageId} was already used with a different body`
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
        return receivedResponse(command, received)
      }, hotSpan("Webhooks.receive"))
    )
  })
)
