import { randomUUID } from "node:crypto"
import { ConversationCommands, Ids } from "@messaging-api/domain"
import type { Installation } from "@messaging-api/domain/Installation"
import type { Schema } from "effect"

/** A user message of a new message id, as the webhook builds it: our ids derived from the installation's. */
export const userMessage = (
  installation: Installation,
  conversation: string,
  text: string,
  options: { readonly type?: string; readonly payload?: Schema.Json; readonly user?: string } = {}
) => {
  const externalMessageId = `msg-${randomUUID()}`
  const user = options.user ?? "user-1"
  return new ConversationCommands.ReceiveUserMessage({
    conversationId: Ids.conversationIdFor(installation.id, conversation),
    installationId: installation.id,
    externalConversationId: conversation,
    messageId: Ids.userMessageIdFor(installation.id, externalMessageId),
    externalMessageId,
    userId: Ids.userIdFor(installation.id, user),
    externalUserId: user,
    type: options.type ?? "text",
    text,
    payload: options.payload ?? { text },
    fingerprint: `fingerprint:${text}`,
    at: new Date().toISOString()
  })
}
