import { createHash } from "node:crypto"
import { ConversationCommands, type Conversations, Ids, type Installation } from "@messaging-api/domain"
import { Predicate, type Schema } from "effect"
import type { ReceivedMessage, WebhookMessage } from "../api/WebhooksApi.ts"

/** The payload as the original integration stores it: absent → `{ text }`; an object without `text` gets it. */
export const normalizePayload = (text: string, payload: Schema.Json | undefined): Schema.Json => {
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
export const canonicalJson = (value: Schema.Json): string => JSON.stringify(sortKeys(value))

/**
 * SHA-256 of everything a repeat must match: a messageId sent again with another user,
 * conversation, type, text or payload is a conflict, not a duplicate.
 */
export const fingerprintOf = (message: {
  readonly userId: string
  readonly conversationId: string
  readonly type: string
  readonly text: string
  readonly payload: Schema.Json
}): string =>
  createHash("sha256")
    .update(
      canonicalJson({
        userId: message.userId,
        conversationId: message.conversationId,
        type: message.type,
        text: message.text,
        payload: message.payload
      })
    )
    .digest("hex")

/**
 * The command for one webhook call; every id is derived from the installation and the caller's ids.
 * An installation without a response endpoint starts its conversations pull-only.
 */
export const receiveCommand = (
  installation: Pick<Installation.Installation, "id" | "responseUrl">,
  body: WebhookMessage,
  at: string
): ConversationCommands.ReceiveUserMessage => {
  const installationId = installation.id
  const payload = normalizePayload(body.text, body.payload)
  return new ConversationCommands.ReceiveUserMessage({
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
  })
}

/** The 200 answer: our ids, with the caller's ids beside them. */
export const receivedResponse = (
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
