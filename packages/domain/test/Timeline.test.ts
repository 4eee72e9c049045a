import { randomUUID } from "node:crypto"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { CompleteBotTurn } from "../src/ConversationCommands.ts"
import {
  BotMessageEmitted,
  BotTurnCompleted,
  type ConversationEvent,
  ConversationStarted,
  DeliveryAttemptFailed,
  MessageDelivered,
  UserMessageReceived
} from "../src/ConversationEvents.ts"
import { load } from "../src/ConversationStream.ts"
import { EventStore, type RecordedEvent } from "../src/EventStore.ts"
import {
  type ConversationId,
  conversationIdFor,
  type InstallationId,
  type MessageId,
  newMessageId,
  type UserId,
  userMessageIdFor
} from "../src/Ids.ts"
import {
  entriesUntil,
  entryTime,
  foldUntil,
  occurredAt,
  parseUntil,
  readTimeline,
  summarize,
  type TimelineEntry
} from "../src/Timeline.ts"
import { delivered, execute, newInstallation, receive, retried, TestLayer } from "./ProjectionFixtures.ts"

const conversationId = "0b7f5a43-0c55-4a4e-9d59-1f7c4b0c0f01" as ConversationId
const installationId = "5a0c8f3e-1d2b-4c6a-8e9f-0a1b2c3d4e5f" as InstallationId
const userMessageId = "9d3b1f6e-2a4c-4e8d-b1f0-6c7a8e9d0b1c" as MessageId
const botMessageId = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f" as MessageId
const userId = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918" as UserId
const t = (second: number) => `2026-11-25T12:00:${String(second).padStart(2, "0")}.000Z`

const events: ReadonlyArray<ConversationEvent> = [
  new ConversationStarted({
    conversationId,
    installationId,
    externalConversationId: "conv-1",
    startedAt: t(0)
  }),
  new UserMessageReceived({
    messageId: userMessageId,
    externalMessageId: "msg-1",
    userId,
    externalUserId: "alice",
    type: "text",
    text: "hello there",
    payload: { text: "hello there" },
    fingerprint: "f",
    receivedAt: t(0)
  }),
  new BotMessageEmitted({
    messageId: botMessageId,
    inReplyTo: userMessageId,
    type: "text",
    payload: { text: "hello there" },
    emittedAt: t(1)
  }),
  new BotTurnCompleted({ userMessageId, messageCount: 1, completedAt: t(1) }),
  new DeliveryAttemptFailed({
    messageId: botMessageId,
    attempt: 1,
    status: 503,
    error: "HTTP 503",
    durationMs: 41.6,
    nextAttemptAt: t(6),
    failedAt: t(1)
  }),
  new MessageDelivered({
    messageId: botMessageId,
    attempt: 2,
    status: 200,
    durationMs: 12,
    deliveredAt: t(6)
  })
]

const entries: ReadonlyArray<TimelineEntry> = [
  ...events.map((event, i) => ({
    recorded: {
      position: 100 + i,
      transactionId: 7,
      streamId: `conversation-${conversationId}`,
      version: i + 1,
      eventId: `e-${i + 1}`,
      type: event._tag,
      data: {},
      metadata: {},
      recordedAt: new Date(Date.parse(t(0)) + i)
    } satisfies RecordedEvent,
    event
  })),
  {
    recorded: {
      position: 200,
      transactionId: 8,
      streamId: `conversation-${conversationId}`,
      version: 7,
      eventId: "e-7",
      type: "SomethingFromTheFuture",
      data: { x: 1 },
      metadata: {},
      recordedAt: new Date(t(9))
    },
    event: undefined
  }
]

describe("Timeline", () => {
  it("an entry's time is its event's own time, or the log's when the event is unknown", () => {
    // Given recorded events, one of them of a type this version does not know
    // When their times are read
    const times = entries.map(entryTime)
    // Then each known event is at the time it says it happened, the unknown one at its recording
    assert.deepStrictEqual(times, [t(0), t(0), t(1), t(1), t(1), t(6), t(9)])
    assert.strictEqual(occurredAt(events[5]!), t(6))
  })

  it.effect("reads --until as a version or a time, and refuses anything else", () =>
    Effect.gen(function* () {
      // Given a whole number, or an ISO-8601 time with or without an offset: a point to fold to
      assert.deepStrictEqual(yield* parseUntil("3"), { _tag: "Version", version: 3 })
      assert.deepStrictEqual(yield* parseUntil("2026-11-25T12:00:01Z"), { _tag: "Time", at: t(1) })
      assert.deepStrictEqual(yield* parseUntil("2026-11-25T13:00:01+01:00"), { _tag: "Time", at: t(1) })
      // Given anything else: a typed refusal
      for (const bad of ["yesterday", "3a", "", "-1", "2026-13-45T99:00:00Z"]) {
        const error = yield* Effect.flip(parseUntil(bad))
        assert.strictEqual(error._tag, "InvalidUntil", bad)
      }
    })
  )

  it("folds up to a version or a time; events it does not know stay out of the state", () => {
    // Given the timeline above (its last event of a type this version does not know)
    // When it is folded up to version 2, Then the user message's turn is open and nothing was emitted
    const atTwo = foldUntil(entries, { _tag: "Version", version: 2 })
    assert.strictEqual(atTwo.version, 2)
    assert.deepStrictEqual(
      atTwo.state.openTurns.map((turn) => turn.userMessageId),
      [userMessageId]
    )
    assert.strictEqual(summarize(atTwo.state, atTwo.version).botMessages.length, 0)

    // When it is folded up to 12:00:01, Then the reply is pending after one failed attempt
    // (at 12:00:01 the reply was emitted and its first attempt failed; at 12:00:06 it was delivered)
    const atOne = foldUntil(entries, { _tag: "Time", at: t(1) })
    assert.strictEqual(atOne.version, 5)
    const pending = summarize(atOne.state, atOne.version)
    assert.deepStrictEqual(
      pending.botMessages.map((message) => [message.status, message.attempts, message.lastError]),
      [["pending", 1, "HTTP 503"]]
    )
    assert.deepStrictEqual(pending.outbox, [botMessageId])
    assert.deepStrictEqual(pending.openTurns, [])

    // When it is folded whole, Then the unknown event counts as a version but changes nothing
    const all = foldUntil(entries)
    assert.strictEqual(all.version, 7)
    assert.deepStrictEqual(
      summarize(all.state, all.version).botMessages.map((message) => message.status),
      ["delivered"]
    )
    assert.strictEqual(entriesUntil(entries, { _tag: "Time", at: "2026-11-25T11:00:00.000Z" }).length, 0)
    assert.deepStrictEqual(foldUntil(entries, { _tag: "Version", version: 0 }).version, 0)
  })
})

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("Timeline from the store", (it) => {
  it.effect("folding the stored timeline up to any version gives the state loaded up to it", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const installation = newInstallation()
      const id = conversationIdFor(installation, "timeline")
      yield* execute(id, receive(installation, "timeline", "t-1", "hi"))
      const reply = newMessageId()
      yield* execute(
        id,
        new CompleteBotTurn({
          userMessageId: userMessageIdFor(installation, "t-1"),
          messages: [{ messageId: reply, type: "text", payload: { text: "hey" } }],
          at: new Date().toISOString()
        })
      )
      yield* execute(id, retried(reply, "HTTP 500"))
      yield* execute(id, delivered(reply))
      const timeline = yield* readTimeline(store, id)
      assert.deepStrictEqual(
        timeline.map((entry) => entry.recorded.type),
        [
          "ConversationStarted",
          "UserMessageReceived",
          "BotMessageEmitted",
          "BotTurnCompleted",
          "DeliveryAttemptFailed",
          "MessageDelivered"
        ]
      )
      for (let version = 0; version <= timeline.length; version++) {
        const folded = foldUntil(timeline, { _tag: "Version", version })
        const loaded = yield* load(store, id, { untilVersion: version })
        assert.deepStrictEqual(
          summarize(folded.state, folded.version),
          summarize(loaded.state, loaded.version)
        )
      }
      assert.deepStrictEqual(yield* readTimeline(store, randomUUID() as ConversationId), [])
    })
  )
})
