import { randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import {
  BotMessageEmitted,
  ConversationStarted,
  MessageDelivered,
  UserMessageReceived
} from "../src/ConversationEvents.ts"
import { botMessageEventId, decodeRecorded, eventIdOf, toNewEvents } from "../src/ConversationStream.ts"
import type { RecordedEvent } from "../src/EventStore.ts"
import type { ConversationId, ExternalId, InstallationId, MessageId, UserId } from "../src/Ids.ts"

const at = "2026-01-01T00:00:00.000Z"
const id = <A>() => randomUUID() as A

const conversationId = id<ConversationId>()
const started = new ConversationStarted({
  conversationId,
  installationId: id<InstallationId>(),
  externalConversationId: "conv-1" as ExternalId,
  startedAt: at
})
const received = new UserMessageReceived({
  messageId: id<MessageId>(),
  externalMessageId: "msg-1" as ExternalId,
  userId: id<UserId>(),
  externalUserId: "user-1" as ExternalId,
  type: "text",
  text: "hi",
  payload: { text: "hi" },
  fingerprint: "f",
  receivedAt: at
})
const emitted = new BotMessageEmitted({
  messageId: id<MessageId>(),
  inReplyTo: received.messageId,
  type: "text",
  payload: { text: "hello" },
  emittedAt: at
})
const delivered = new MessageDelivered({
  messageId: emitted.messageId,
  attempt: 1,
  status: 200,
  durationMs: 3,
  deliveredAt: at
})

describe("ConversationStream.toNewEvents", () => {
  it("derives the event ids a repeat must meet again, and gives the others random ones", () => {
    const [a, b, c, d] = toNewEvents([started, received, emitted, delivered])
    const again = toNewEvents([started, received, emitted, delivered])
    // A conversation starts once, a user message's event id is its message id, a bot message is emitted once.
    assert.strictEqual(a?.eventId, eventIdOf(started))
    assert.strictEqual(a?.eventId, again[0]?.eventId)
    assert.notStrictEqual(
      a?.eventId,
      eventIdOf(new ConversationStarted({ ...started, conversationId: id() }))
    )
    assert.strictEqual(b?.eventId, received.messageId)
    assert.strictEqual(c?.eventId, botMessageEventId(emitted.messageId))
    assert.notStrictEqual(c?.eventId, emitted.messageId)
    assert.notStrictEqual(d?.eventId, again[3]?.eventId)
    assert.strictEqual(new Set([a, b, c, d].map((event) => event?.eventId)).size, 4)
  })

  it("encodes each event as its tag and fields, which decoding reads back", () => {
    for (const [version, encoded] of toNewEvents([started, received, emitted, delivered]).entries()) {
      const recorded: RecordedEvent = {
        position: version,
        transactionId: 1,
        streamId: `conversation-${conversationId}`,
        version: version + 1,
        eventId: encoded.eventId,
        type: encoded.type,
        data: encoded.data,
        metadata: {},
        recordedAt: new Date(at)
      }
      assert.notProperty(encoded.data as object, "_tag")
      const decoded = decodeRecorded(recorded)
      assert.isTrue(decoded._tag === "Success")
      assert.deepStrictEqual(
        decoded._tag === "Success" ? decoded.success : undefined,
        [started, received, emitted, delivered][version]
      )
    }
  })
})
