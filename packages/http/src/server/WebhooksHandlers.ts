import { hash } from "node:crypto"
import { ConversationCommands, Conversations, Ids, type Installation, Instant } from "@messaging-api/domain"
import { hotSpan } from "@messaging-api/domain/Tracing"
import { Clock, Effect, Predicate, type Schema } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../Api.ts"
import { CurrentInstallation } from "../api/WebhookAccess.ts"
import type { ReceivedMessage, WebhookMessage } from "../api/WebhooksApi.ts"
import { answering } from "./ErrorAnswers.ts"
import { TurnReplies } from "./TurnReplies.ts"

/**
 * `POST /webhooks/{webhookId}`: the installation is already resolved and the caller allowed
 * (`WebhookAccess`), the body decoded. The handler builds the command (our ids, derived from the
 * caller's, and the fingerprint a repeat must match), answers once it is committed, and with
 * `?wait=` adds the turn's replies.
 */

export const WebhooksHandlers = HttpApiBuilder.group(
  Api,
  "webhooks",
  Effect.fn(function* (handlers) {
    const conversations = yield* Conversations.Conversations
    const turnReplies = yield* TurnReplies
    return answering(handlers).handle(
      "receive",
      Effect.fnUntraced(function* ({ payload, query }) {
        const installation = yield* CurrentInstallation
        const at = Instant.ofMillis(yield* Clock.currentTimeMillis)
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

/** The payload as the original integration stores it: absent → `{ text }`; an object without `text` gets it. */
const normalizePayload = (text: string, payload: Schema.Json | undefined): Schema.Json => {
  if (payload === undefined) return { text }
  if (Predicate.isObject(payload) && !Object.hasOwn(payload, "text")) {
    return { ...(payload as { readonly [key: string]: Schema.Json }), text }
  }
  return payload
}

const sortKeys = (value: Schema.Json): Schema.Json => {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (Predicate.isObject(value)) {
    const record = value as { readonly [key: string]: Schema.Json }
    return Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((key) => [key, sortKeys(record[key]!)])
    )
  }
  return value
}

/** JSON with keys sorted at every level: the same body always gives the same string. */
const canonicalJson = (value: Schema.Json): string => JSON.stringify(sortKeys(value))

/**
 * SHA-256 of everything a repeat must match: a messageId sent again with another user,
 * conversation, type, text or payload is a conflict, not a duplicate.
 */
const fingerprintOf = (message: {
  readonly userId: string
  readonly conversationId: string
  readonly type: string
  readonly text: string
  readonly payload: Schema.Json
}): string =>
  hash(
    "sha256",
    canonicalJson({
      userId: message.userId,
      conversationId: message.conversationId,
      type: message.type,
      text: message.text,
      payload: message.payload
    }),
    "hex"
  )

/**
 * The command for one webhook call; every id is derived from the installation and the caller's ids.
 * An installation without a response endpoint starts its conversations pull-only.
 */
const receiveCommand = (
  installation: Pick<Installation.Installation, "id" | "responseUrl">,
  body: WebhookMessage,
  at: string
): ConversationCommands.ReceiveUserMessage => {
  const installationId = installation.id
  const payload = normalizePayload(body.text, body.payload)
  // Its fields are checked already: the body's by `WebhookMessage` (stricter than the command's),
  // the ids derived from checked ones, the time the clock's. Only the structure is parsed again.
  return new ConversationCommands.ReceiveUserMessage(
    {
      conversationId: Ids.conversationIdFor(installationId, body.conversationId),
      installationId,
      externalConversationId: body.conversationId,
      messageId: Ids.userMessageIdFor(installationId, body.messageId),
      externalMessageId: body.messageId,
      userId: Ids.userIdFor(installationId, body.userId),
      externalUserId: body.userId,
      type: body.type,
      text: body.text,
      payload,
      fingerprint: fingerprintOf({ ...body, payload }),
      at,
      ...(installation.responseUrl === null ? { delivery: "pull" as const } : {})
    },
    trusted
  )
}

const trusted = { disableChecks: true } as const

/** The 200 answer: our ids, with the caller's ids beside them. */
const receivedResponse = (
  command: ConversationCommands.ReceiveUserMessage,
  received: Conversations.ReceivedMessage
): ReceivedMessage => ({
  message: {
    id: received.messageId,
    messageId: command.externalMessageId,
    conversationId: command.externalConversationId,
    userId: command.externalUserId,
    type: command.type,
    text: command.text,
    payload: command.payload,
    tags: { id: command.externalMessageId }
  },
  user: { id: received.userId, tags: { id: command.externalUserId } },
  conversation: { id: received.conversationId, tags: { id: command.externalConversationId } },
  ...(received.duplicate ? { duplicate: true as const } : {})
})
