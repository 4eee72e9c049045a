import { signingSecrets } from "@messaging-api/domain/Installation"
import { hotSpan } from "@messaging-api/domain/Tracing"
import { Clock, Duration, Effect, Schema, Stream } from "effect"
import type { BotFailure, BotReply, BotTurn } from "./BotTurn.ts"
import { BotReply as BotReplySchema } from "./BotTurn.ts"
import * as DeliveryPolicy from "./DeliveryPolicy.ts"
import { DeliverySettings } from "./DeliverySettings.ts"
import { jsonBody } from "./JsonBody.ts"
import { WebhookClient } from "./WebhookClient.ts"

/**
 * The http bot: each turn is POSTed to the bot's URL, signed like a delivery (webhook-id = the
 * user message id). A 2xx answer with a JSON array of `{ type, payload }` (or an empty body)
 * becomes the bot's messages (their payloads are checked with every bot's, by the actor).
 * Network errors, timeouts, 408/425/429/5xx are retryable; other answers (4xx, a body that is
 * not such an array) are not.
 */

/** What the bot receives: the user message with the caller's ids and ours. */
export const HttpBotRequest = Schema.Struct({
  type: Schema.String,
  text: Schema.String,
  payload: Schema.Json,
  conversationId: Schema.String,
  userId: Schema.String,
  messageId: Schema.String,
  botpressConversationId: Schema.String,
  botpressUserId: Schema.String,
  botpressMessageId: Schema.String
})
export type HttpBotRequest = typeof HttpBotRequest.Type

const HttpBotAnswer = Schema.fromJsonString(Schema.Array(BotReplySchema))
const decodeAnswer = Schema.decodeUnknownEffect(HttpBotAnswer)
const encodeRequest = jsonBody(HttpBotRequest)

export const requestFor = (turn: BotTurn): HttpBotRequest => ({
  type: turn.message.type,
  text: turn.message.text,
  payload: turn.message.payload,
  conversationId: turn.externalConversationId,
  userId: turn.message.externalUserId,
  messageId: turn.message.externalMessageId,
  botpressConversationId: turn.conversationId,
  botpressUserId: turn.message.userId,
  botpressMessageId: turn.message.messageId
})

export const make = Effect.gen(function* () {
  const client = yield* WebhookClient
  const settings = yield* DeliverySettings

  const call = Effect.fnUntraced(function* (
    turn: BotTurn,
    config: { readonly url: string; readonly timeoutMs?: number }
  ) {
    const now = yield* Clock.currentTimeMillis
    const response = yield* client
      .post({
        url: config.url,
        secrets: signingSecrets(turn.installation, now),
        id: turn.message.messageId,
        body: encodeRequest(requestFor(turn)),
        timeout: config.timeoutMs === undefined ? settings.botTimeout : Duration.millis(config.timeoutMs)
      })
      .pipe(Effect.mapError(DeliveryPolicy.classifyRequestError))
    const failure = DeliveryPolicy.classifyStatus(response.status, response.headers, Date.now())
    if (failure !== undefined) {
      return yield* DeliveryPolicy.describedAs(failure, `the bot answered ${failure.error}`)
    }
    if (response.truncated) {
      return yield* DeliveryPolicy.permanentFailure("the bot's answer is larger than allowed")
    }
    const text = new TextDecoder().decode(response.body)
    if (text.trim() === "") return []
    const replies = yield* decodeAnswer(text).pipe(
      Effect.mapError((error) =>
        DeliveryPolicy.permanentFailure(
          `the bot's answer is not a JSON array of { type, payload }: ${error.message}`
        )
      )
    )
    return replies
  }, hotSpan("HttpBot.respond"))

  return (
    turn: BotTurn,
    config: { readonly url: string; readonly timeoutMs?: number }
  ): Stream.Stream<BotReply, BotFailure> => Stream.fromIterableEffect(call(turn, config))
})
