import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import {
  BotMessageEmitted,
  BotTurnCompleted,
  BotTurnFailed,
  type ConversationEvent,
  ConversationStarted,
  DeliveryAttemptFailed,
  MessageDeadLettered,
  MessageDelivered,
  RedeliveryRequested,
  UserMessageReceived
} from "../src/ConversationEvents.ts"
import { UnknownEventType } from "../src/ConversationStream.ts"
import type { RecordedEvent } from "../src/EventStore.ts"
import {
  conversationIdFor,
  conversationStream,
  type InstallationId,
  type MessageId,
  userIdFor,
  userMessageIdFor
} from "../src/Ids.ts"
import { type DecodedEvent, foldBatch } from "../src/ReadModelFold.ts"
import type { ConversationRow, MessageRow, MovedConversationRow } from "../src/ReadModelRows.ts"

/**
 * The read-model fold with no database: given the rows a batch read, when a conversation's events
 * (after the version its row records), then the rows the batch writes.
 */

const installation = "0f4f6a2e-4b8c-4f39-9a53-7d0b1c2e3f40" as InstallationId
const conversationId = conversationIdFor(installation, "conv-1")
const stream = conversationStream(conversationId)
const alice = userIdFor(installation, "alice")
const bob = userIdFor(installation, "bob")
const m1 = userMessageIdFor(installation, "m-1")
const m2 = userMessageIdFor(installation, "m-2")
const reply = "6d0c3a52-3d0e-4d7e-9b4c-0b5a1c2d3e4f" as MessageId
const posted = "7e1d4b63-4e1f-4e8f-8c5d-1c6b2d3e4f50" as MessageId
const at = (minute: number) => `2026-11-25T12:${String(minute).padStart(2, "0")}:00.000Z`
const recordedAt = new Date("2026-11-25T13:00:00.000Z")

const startedAt = (startedAt: string) =>
  new ConversationStarted({
    conversationId,
    installationId: installation,
    externalConversationId: "conv-1",
    startedAt
  })
const started = startedAt(at(0))
const received = (messageId: MessageId, userId: typeof alice, minute: number) =>
  new UserMessageReceived({
    messageId,
    externalMessageId: messageId === m1 ? "m-1" : "m-2",
    userId,
    externalUserId: userId === alice ? "alice" : "bob",
    type: "text",
    text: "hello",
    payload: { text: "hello" },
    fingerprint: "fp",
    receivedAt: at(minute)
  })
const emitted = (messageId: MessageId, inReplyTo: MessageId | null, minute: number) =>
  new BotMessageEmitted({
    messageId,
    inReplyTo,
    type: "text",
    payload: { text: "hi there" },
    emittedAt: at(minute)
  })
const completed = (userMessageId: MessageId, minute: number) =>
  new BotTurnCompleted({ userMessageId, messageCount: 1, completedAt: at(minute) })

const recorded = (version: number, type: string): RecordedEvent => ({
  position: version,
  transactionId: 1,
  streamId: stream,
  version,
  eventId: `event-${version}`,
  type,
  data: {},
  metadata: {},
  recordedAt
})

/** The stream's events from `firstVersion` on, as the batch decoded them. */
const events = (firstVersion: number, ...list: ReadonlyArray<ConversationEvent>): Array<DecodedEvent> =>
  list.map((event, i) => [recorded(firstVersion + i, event._tag), Result.succeed(event)])

const given = (rows: {
  readonly conversation?: ConversationRow
  readonly messages?: ReadonlyArray<MessageRow>
}) => ({
  when: (decoded: ReadonlyArray<DecodedEvent>) =>
    foldBatch({
      conversations: rows.conversation === undefined ? [] : [rows.conversation],
      messages: rows.messages ?? [],
      events: new Map([[conversationId, decoded]])
    })
})

const noCountChange = {
  user_messages: 0,
  bot_messages: 0,
  open_turns: 0,
  pending: 0,
  delivered: 0,
  dead_lettered: 0
}

/** The conversation row after one user message and one pending bot reply (versions 1..4). */
const conversationRow: ConversationRow = {
  conversation_id: conversationId,
  installation_id: installation,
  last_user_id: alice,
  version: 4
}
const pendingReply: MessageRow = {
  message_id: reply,
  conversation_id: conversationId,
  direction: "bot",
  user_id: alice,
  stream_version: 3,
  turn_status: null,
  turn_failures: null,
  delivery_status: "pending",
  attempts: 0,
  last_status: null,
  last_error: null,
  next_attempt_at: null,
  delivered_at: null,
  dead_lettered_at: null,
  redeliveries: 0,
  version: 3
}

describe("Read-model fold", () => {
  it("a new conversation: its row, the user message with an open turn, the counts", () => {
    const { rows, skipped } = given({}).when(events(1, started, received(m1, alice, 1)))
    assert.deepStrictEqual(skipped, [])
    assert.deepStrictEqual(rows.started, [
      {
        conversation_id: conversationId,
        installation_id: installation,
        external_conversation_id: "conv-1",
        at: at(0),
        version: 1
      }
    ])
    assert.strictEqual(rows.createdMessages.length, 1)
    const [message] = rows.createdMessages
    assert.strictEqual(message?.message_id, m1)
    assert.strictEqual(message?.direction, "user")
    assert.strictEqual(message?.turn_status, "open")
    assert.strictEqual(message?.installation_id, installation)
    assert.strictEqual(message?.payload, JSON.stringify({ text: "hello" }))
    assert.deepStrictEqual(rows.moved, [
      {
        conversation_id: conversationId,
        version: 2,
        last_activity_at: at(1),
        last_user_id: alice,
        last_user_version: 2,
        ...noCountChange,
        user_messages: 1,
        open_turns: 1
      } satisfies MovedConversationRow
    ])
    assert.deepStrictEqual(rows.changedMessages, [])
  })

  it("rows created in the batch are written with their state after the whole batch", () => {
    const { rows } = given({}).when(
      events(1, started, received(m1, alice, 1), emitted(reply, m1, 2), completed(m1, 2))
    )
    const user = rows.createdMessages.find((row) => row.message_id === m1)
    const bot = rows.createdMessages.find((row) => row.message_id === reply)
    assert.strictEqual(user?.turn_status, "completed")
    assert.strictEqual(user?.version, 4)
    assert.strictEqual(bot?.delivery_status, "pending")
    assert.strictEqual(bot?.user_id, alice)
    assert.strictEqual(bot?.text, "hi there")
    assert.deepStrictEqual(rows.moved[0], {
      conversation_id: conversationId,
      version: 4,
      last_activity_at: at(2),
      last_user_id: alice,
      last_user_version: 2,
      ...noCountChange,
      user_messages: 1,
      bot_messages: 1,
      pending: 1
    })
  })

  it("a bot message answers the user of the open turn it replies to, otherwise the last user", () => {
    const { rows } = given({}).when(
      events(
        1,
        started,
        received(m1, alice, 1),
        received(m2, bob, 2),
        emitted(reply, m1, 3),
        emitted(posted, null, 4)
      )
    )
    const userOf = (id: MessageId) => rows.createdMessages.find((row) => row.message_id === id)?.user_id
    assert.strictEqual(userOf(reply), alice)
    assert.strictEqual(userOf(posted), bob)
  })

  it("an existing bot message is delivered: its row changes, an attempt is recorded, the counts move", () => {
    const { rows } = given({ conversation: conversationRow, messages: [pendingReply] }).when(
      events(
        5,
        new MessageDelivered({
          messageId: reply,
          attempt: 1,
          status: 200,
          durationMs: 12,
          deliveredAt: at(5)
        })
      )
    )
    assert.deepStrictEqual(rows.started, [])
    assert.deepStrictEqual(rows.createdMessages, [])
    assert.deepStrictEqual(rows.changedMessages, [
      {
        ...pendingReply,
        delivery_status: "delivered",
        attempts: 1,
        last_status: 200,
        delivered_at: at(5),
        version: 5
      }
    ])
    assert.deepStrictEqual(rows.attempts, [
      {
        conversation_id: conversationId,
        stream_version: 5,
        message_id: reply,
        installation_id: installation,
        attempt: 1,
        outcome: "delivered",
        status: 200,
        error: null,
        duration_ms: 12,
        next_attempt_at: null,
        at: at(5)
      }
    ])
    assert.deepStrictEqual(rows.moved, [
      {
        conversation_id: conversationId,
        version: 5,
        last_activity_at: at(5),
        last_user_id: null,
        last_user_version: null,
        ...noCountChange,
        pending: -1,
        delivered: 1
      }
    ])
  })

  it("a failed attempt then a dead letter: two states of one row, the attempt to mark as the one given up on", () => {
    const { rows } = given({ conversation: conversationRow, messages: [pendingReply] }).when(
      events(
        5,
        new DeliveryAttemptFailed({
          messageId: reply,
          attempt: 1,
          status: 503,
          error: "HTTP 503",
          durationMs: 5,
          nextAttemptAt: at(6),
          failedAt: at(5)
        }),
        new MessageDeadLettered({
          messageId: reply,
          attempt: 1,
          status: 503,
          reason: "gave up",
          deadLetteredAt: at(5)
        })
      )
    )
    assert.deepStrictEqual(
      rows.attempts.map((attempt) => [attempt.outcome, attempt.next_attempt_at]),
      [["failed", at(6)]]
    )
    assert.deepStrictEqual(rows.deadLetters, [
      { conversation_id: conversationId, message_id: reply, attempt: 1, version: 6 }
    ])
    assert.strictEqual(rows.changedMessages[0]?.delivery_status, "dead_lettered")
    assert.strictEqual(rows.changedMessages[0]?.last_error, "gave up")
    assert.strictEqual(rows.changedMessages[0]?.next_attempt_at, null)
    assert.deepStrictEqual(rows.moved[0], {
      conversation_id: conversationId,
      version: 6,
      last_activity_at: at(5),
      last_user_id: null,
      last_user_version: null,
      ...noCountChange,
      pending: -1,
      dead_lettered: 1
    })
  })

  it("a redelivery puts a dead letter back to pending and counts it", () => {
    const dead: MessageRow = {
      ...pendingReply,
      delivery_status: "dead_lettered",
      attempts: 3,
      dead_lettered_at: at(4),
      version: 4
    }
    const { rows } = given({ conversation: conversationRow, messages: [dead] }).when(
      events(5, new RedeliveryRequested({ messageId: reply, requestedAt: at(7) }))
    )
    assert.deepStrictEqual(rows.changedMessages, [
      {
        ...dead,
        delivery_status: "pending",
        attempts: 0,
        dead_lettered_at: null,
        redeliveries: 1,
        version: 5
      }
    ])
    assert.deepStrictEqual(rows.moved[0], {
      conversation_id: conversationId,
      version: 5,
      last_activity_at: at(7),
      last_user_id: null,
      last_user_version: null,
      ...noCountChange,
      pending: 1,
      dead_lettered: -1
    })
  })

  it("a message row already past an event's version does not take it again", () => {
    const later: MessageRow = { ...pendingReply, delivery_status: "delivered", attempts: 1, version: 9 }
    const { rows } = given({ conversation: conversationRow, messages: [later] }).when(
      events(
        5,
        new MessageDelivered({
          messageId: reply,
          attempt: 1,
          status: 200,
          durationMs: 12,
          deliveredAt: at(5)
        })
      )
    )
    assert.deepStrictEqual(rows.changedMessages, [])
    assert.deepStrictEqual(rows.moved[0], {
      conversation_id: conversationId,
      version: 5,
      last_activity_at: at(5),
      last_user_id: null,
      last_user_version: null,
      ...noCountChange
    })
  })

  it("a failed bot turn that is retried stays open; one given up on closes the turn", () => {
    const openTurn: MessageRow = {
      ...pendingReply,
      message_id: m1,
      direction: "user",
      stream_version: 2,
      turn_status: "open",
      turn_failures: 0,
      delivery_status: null,
      version: 2
    }
    const failed = (attempt: number, retryAt: string | null) =>
      new BotTurnFailed({ userMessageId: m1, attempt, reason: "timeout", retryAt, failedAt: at(3) })
    const retried = given({ conversation: conversationRow, messages: [openTurn] }).when(
      events(5, failed(1, at(4)))
    )
    assert.strictEqual(retried.rows.changedMessages[0]?.turn_status, "open")
    assert.strictEqual(retried.rows.changedMessages[0]?.turn_failures, 1)
    assert.strictEqual(retried.rows.moved[0]?.open_turns, 0)
    const gaveUp = given({ conversation: conversationRow, messages: [openTurn] }).when(
      events(5, failed(2, null))
    )
    assert.strictEqual(gaveUp.rows.changedMessages[0]?.turn_status, "failed")
    assert.strictEqual(gaveUp.rows.moved[0]?.open_turns, -1)
  })

  it("an event that does not decode is skipped and reported; the rest still apply", () => {
    const undecodable: DecodedEvent = [
      recorded(5, "SomethingNew"),
      Result.fail(new UnknownEventType({ streamId: stream, version: 5, type: "SomethingNew" }))
    ]
    const { rows, skipped } = given({ conversation: conversationRow, messages: [pendingReply] }).when([
      undecodable,
      ...events(
        6,
        new MessageDelivered({ messageId: reply, attempt: 1, status: 200, durationMs: 1, deliveredAt: at(6) })
      )
    ])
    assert.deepStrictEqual(
      skipped.map((entry) => entry._tag),
      ["Undecodable"]
    )
    assert.strictEqual(rows.moved[0]?.version, 6)
    assert.strictEqual(rows.changedMessages[0]?.delivery_status, "delivered")
  })

  it("events of a conversation that never started are skipped and move nothing", () => {
    const { rows, skipped } = given({}).when(events(1, received(m1, alice, 1)))
    assert.deepStrictEqual(skipped, [
      { _tag: "NotStarted", streamId: stream, version: 1, type: "UserMessageReceived" }
    ])
    assert.deepStrictEqual(rows.started, [])
    assert.deepStrictEqual(rows.createdMessages, [])
    assert.deepStrictEqual(rows.moved, [])
  })

  it("an event whose own time is not a time takes the log's", () => {
    const { rows } = given({}).when(events(1, startedAt("not a time")))
    assert.strictEqual(rows.started[0]?.at, recordedAt.toISOString())
    assert.strictEqual(rows.moved[0]?.last_activity_at, recordedAt.toISOString())
  })
})
