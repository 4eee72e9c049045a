import { Conversations } from "@messaging-api/domain/Conversations"
import { hotSpan } from "@messaging-api/domain/Tracing"
import { DateTime, Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { CurrentInstallation } from "../api/WebhookAccess.ts"
import { answering } from "./ErrorAnswers.ts"
import { receiveCommand, receivedResponse } from "./ReceiveCommand.ts"
import { TurnReplies } from "./TurnReplies.ts"

export const WebhooksHandlers = HttpApiBuilder.group(
  Api,
  "webhooks",
  Effect.fn(function* (handlers) {
    const conversations = yield* Conversations
    const turnReplies = yield* TurnReplies
    return answering(handlers).handle(
      "receive",
      Effect.fnUntraced(function* ({ payload, query }) {
        const installation = yield* CurrentInstallation
        const at = DateTime.formatIso(yield* DateTime.now)
        const command = receiveCommand(installation, payload, at)
        // Answers only after the UserMessageReceived event is committed.
        const received = yield* conversations.receive(command)
        const answer = receivedResponse(command, received)
        if (query.wait === undefined) return answer
        // The turn of the message the answer names: a duplicate's is the original's.
        const replies = yield* turnReplies.await(received.conversationId, received.messageId, query.wait)
        return { ...answer, replies }
      }, hotSpan("Webhooks.receive"))
    )
  })
)
