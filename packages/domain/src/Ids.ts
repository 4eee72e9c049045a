import { hash, randomUUID } from "node:crypto"
import { Schema, SchemaTransformation } from "effect"

/**
 * Our identifiers are UUIDs; the caller's are opaque non-empty strings. A UUID is lower-cased
 * once, when it is decoded (as Postgres prints it), so decoded ids compare with `===`; code that
 * gets an id from outside decodes it rather than testing it with `Schema.is`.
 */
export const Uuid = Schema.String.pipe(Schema.decode(SchemaTransformation.toLowerCase())).check(
  Schema.isPattern(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
)

export const InstallationId = Uuid.pipe(Schema.brand("InstallationId"))
export type InstallationId = typeof InstallationId.Type

/** Our conversation id: the `botpressConversationId` of the wire contract. */
export const ConversationId = Uuid.pipe(Schema.brand("ConversationId"))
export type ConversationId = typeof ConversationId.Type

/** Our message id: the `botpressMessageId` of the wire contract and the `webhook-id` of its deliveries. */
export const MessageId = Uuid.pipe(Schema.brand("MessageId"))
export type MessageId = typeof MessageId.Type

/** Our user id: the `botpressUserId` of the wire contract. */
export const UserId = Uuid.pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

/** The application's identifiers, echoed back untouched. */
export const ExternalId = Schema.NonEmptyString
export type ExternalId = typeof ExternalId.Type

// Plain bytes rather than a Buffer, so that the schemas of this module load in a browser too (the console).
const NAMESPACE = Uint8Array.from("6f1c3a529b1e4d0aa7f32d64c1b8e0a9".match(/../g) ?? [], (byte) =>
  Number.parseInt(byte, 16)
)

const HEX = "0123456789abcdef"

/**
 * RFC 4122 version-5 (name-based, SHA-1) UUID: the same names always give the same id. One-shot
 * `hash` over namespace + names (no Hash object per call: several ids are derived per message),
 * formatted from the hex digest with the version (5) and variant (10xx) bits set.
 */
export const uuidV5 = (...names: ReadonlyArray<string>): string => {
  const text = names.join("\u0000")
  const input = Buffer.allocUnsafe(NAMESPACE.length + Buffer.byteLength(text))
  input.set(NAMESPACE, 0)
  input.write(text, NAMESPACE.length)
  const hex = hash("sha1", input, "hex")
  const variant = HEX[(Number.parseInt(hex[16]!, 16) & 0x3) | 0x8]
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

/**
 * Ids derived from the caller's ids are deterministic, so "find or start" needs no lookup table
 * and a retried request maps onto the same conversation, user and message.
 */
export const conversationIdFor = (installation: InstallationId, external: string): ConversationId =>
  uuidV5("conversation", installation, external) as ConversationId

export const userIdFor = (installation: InstallationId, external: string): UserId =>
  uuidV5("user", installation, external) as UserId

export const userMessageIdFor = (installation: InstallationId, external: string): MessageId =>
  uuidV5("user-message", installation, external) as MessageId

export const newMessageId = (): MessageId => randomUUID() as MessageId
export const newInstallationId = (): InstallationId => randomUUID() as InstallationId

const conversationStreamPrefix = "conversation-"

/** The event-store stream that holds one conversation. */
export const conversationStream = (id: ConversationId): string => `${conversationStreamPrefix}${id}`

/** Whether the stream is a conversation's (a cheap test, for folds over the whole log). */
export const isConversationStream = (streamId: string): boolean =>
  streamId.startsWith(conversationStreamPrefix)

const isConversationId = Schema.is(ConversationId)

/** The conversation whose stream this is; undefined for any other stream. */
export const conversationOfStream = (streamId: string): ConversationId | undefined => {
  if (!isConversationStream(streamId)) return undefined
  const id = streamId.slice(conversationStreamPrefix.length)
  return isConversationId(id) ? id : undefined
}
