import { assert, describe, it } from "@effect/vitest"
import { ConversationEvents, type EventStore, type Ids, Timeline } from "@messaging-api/domain"
import { Schema } from "effect"
import {
  describeEntries,
  formatSummary,
  formatTimeline,
  TimelineRecord,
  toRecords
} from "../src/commands/TimelineText.ts"

// How `replay` words a timeline: the text and NDJSON of recorded events, in the light of the whole stream.

const conversationId = "0b7f5a43-0c55-4a4e-9d59-1f7c4b0c0f01" as Ids.ConversationId
const installationId = "5a0c8f3e-1d2b-4c6a-8e9f-0a1b2c3d4e5f" as Ids.InstallationId
const userMessageId = "9d3b1f6e-2a4c-4e8d-b1f0-6c7a8e9d0b1c" as Ids.MessageId
const first = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f" as Ids.MessageId
const second = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a" as Ids.MessageId
const userId = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918" as Ids.UserId
const t = (second: number) => `2026-11-25T12:00:${String(second).padStart(2, "0")}.000Z`

/**
 * Two replies: the first fails with a 503 and is retried, then delivered; the second gets a 404 at
 * once (dead-lettered), is redelivered and delivered. Eleven events, then one this version does not know.
 */
const events: ReadonlyArray<ConversationEvents.ConversationEvent> = [
  new ConversationEvents.ConversationStarted({
    conversationId,
    installationId,
    externalConversationId: "conv-1",
    startedAt: t(0)
  }),
  new ConversationEvents.UserMessageReceived({
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
  new ConversationEvents.BotMessageEmitted({
    messageId: first,
    inReplyTo: userMessageId,
    type: "text",
    payload: { text: "hello there" },
    emittedAt: t(1)
  }),
  new ConversationEvents.BotMessageEmitted({
    messageId: second,
    inReplyTo: null,
    type: "image",
    payload: { imageUrl: "https://example.com/a.png" },
    emittedAt: t(1)
  }),
  new ConversationEvents.BotTurnCompleted({ userMessageId, messageCount: 1, completedAt: t(1) }),
  new ConversationEvents.DeliveryAttemptFailed({
    messageId: first,
    attempt: 1,
    status: 503,
    error: "HTTP 503",
    durationMs: 41.6,
    nextAttemptAt: t(6),
    failedAt: t(1)
  }),
  new ConversationEvents.MessageDelivered({
    messageId: first,
    attempt: 2,
    status: 200,
    durationMs: 12,
    deliveredAt: t(6)
  }),
  // What the decider records for a permanent failure: the attempt, then its dead letter, same instant.
  new ConversationEvents.DeliveryAttemptFailed({
    messageId: second,
    attempt: 1,
    status: 404,
    error: "HTTP 404",
    durationMs: 3,
    nextAttemptAt: t(7),
    failedAt: t(7)
  }),
  new ConversationEvents.MessageDeadLettered({
    messageId: second,
    attempt: 1,
    status: 404,
    reason: "HTTP 404",
    deadLetteredAt: t(7)
  }),
  new ConversationEvents.RedeliveryRequested({ messageId: second, requestedAt: t(8) }),
  new ConversationEvents.MessageDelivered({
    messageId: second,
    attempt: 1,
    status: 204,
    durationMs: 5,
    deliveredAt: t(8)
  })
]

const recorded = (version: number, type: string, at: Date): EventStore.RecordedEvent => ({
  position: 100 + version,
  transactionId: 7,
  streamId: `conversation-${conversationId}`,
  version,
  eventId: `e-${version}`,
  type,
  data: { version },
  metadata: {},
  recordedAt: at
})

const entries: ReadonlyArray<Timeline.TimelineEntry> = [
  ...events.map((event, i) => ({
    recorded: recorded(i + 1, event._tag, new Date(Date.parse(t(0)) + i)),
    event
  })),
  { recorded: recorded(12, "SomethingFromTheFuture", new Date(t(9))), event: undefined }
]

describe("TimelineText", () => {
  it("prints one line an event, its columns aligned past version 9 and past the longest type", () => {
    // Given a stream of twelve events, the last of a type this version does not know
    // When it is formatted
    const lines = formatTimeline(entries)
    // Then each line has its time, version, type and essentials, in columns that do not shift
    assert.deepStrictEqual(lines, [
      `${t(0)}  v1   ConversationStarted     conversation "conv-1" in installation ${installationId}`,
      `${t(0)}  v2   UserMessageReceived     user "alice" sent "msg-1" (${userMessageId}) text: "hello there"`,
      `${t(1)}  v3   BotMessageEmitted       bot message ${first} text: "hello there" in reply to ${userMessageId}`,
      `${t(1)}  v4   BotMessageEmitted       bot message ${second} image: {"imageUrl":"https://example.com/a.png"} (posted by the bot)`,
      `${t(1)}  v5   BotTurnCompleted        turn of ${userMessageId} completed with 1 message(s)`,
      `${t(1)}  v6   DeliveryAttemptFailed   delivery of ${first} failed (attempt 1, HTTP 503, 42 ms): HTTP 503; retry at ${t(6)}`,
      `${t(6)}  v7   MessageDelivered        delivered ${first} (attempt 2, HTTP 200, 12 ms)`,
      `${t(7)}  v8   DeliveryAttemptFailed   delivery of ${second} failed (attempt 1, HTTP 404, 3 ms): HTTP 404; not retried (dead-lettered)`,
      `${t(7)}  v9   MessageDeadLettered     dead-lettered ${second} (attempt 1, HTTP 404): HTTP 404`,
      `${t(8)}  v10  RedeliveryRequested     redelivery of ${second} requested`,
      `${t(8)}  v11  MessageDelivered        delivered ${second} (attempt 1, HTTP 204, 5 ms)`,
      `${t(9)}  v12  SomethingFromTheFuture  (an event type this version does not know)`
    ])
  })

  it("a dead-lettered attempt never reads as a retry due at the instant it failed", () => {
    // Given the failed 404 attempt and its dead letter
    const failed = entries[7]!
    const dead = entries[8]!
    // When the failed attempt is described with its dead letter in view, Then it is not retried
    assert.include(describeEntries([failed, dead])[0], "not retried (dead-lettered)")
    assert.notInclude(describeEntries([failed, dead])[0], "retry at")
    // When the dead letter is of another attempt, Then the attempt reads as a retry
    const earlier = {
      ...dead,
      event: new ConversationEvents.MessageDeadLettered({
        ...(dead.event as ConversationEvents.MessageDeadLettered),
        attempt: 2
      })
    }
    assert.include(describeEntries([failed, earlier])[0], `retry at ${t(7)}`)
    // And an attempt that got no answer says so
    const silent = new ConversationEvents.MessageDeadLettered({
      messageId: second,
      attempt: 3,
      status: null,
      reason: "connection refused",
      deadLetteredAt: t(9)
    })
    assert.include(
      describeEntries([{ recorded: dead.recorded, event: silent }])[0],
      "(attempt 3, no answer): connection refused"
    )
  })

  it("gives each event as one JSON object for NDJSON", () => {
    // When the entries become records
    const records = toRecords(entries)
    // Then each carries the stored event, its time and its description (null when unknown)
    assert.deepStrictEqual(records[7], {
      kind: "event",
      version: 8,
      position: 108,
      eventId: "e-8",
      type: "DeliveryAttemptFailed",
      at: t(7),
      recordedAt: new Date(Date.parse(t(0)) + 7).toISOString(),
      description: `delivery of ${second} failed (attempt 1, HTTP 404, 3 ms): HTTP 404; not retried (dead-lettered)`,
      data: { version: 8 },
      metadata: {}
    })
    const line = Schema.encodeSync(Schema.fromJsonString(TimelineRecord))(records[11]!)
    assert.deepInclude(JSON.parse(line), { kind: "event", type: "SomethingFromTheFuture", description: null })
  })

  it("summarizes the folded state for people", () => {
    // Given the whole stream folded
    const all = Timeline.foldUntil(entries)
    // When the state is summarized for people, Then one fact a line, the bot messages by time
    assert.deepStrictEqual(formatSummary(Timeline.summarize(all.state, all.version)), [
      "state at version 12",
      `  conversation  ${conversationId} ("conv-1")`,
      `  installation  ${installationId}`,
      `  started       ${t(0)}`,
      "  user messages 1",
      "  open turns    none",
      "  outbox        empty",
      "  bot messages",
      `    ${first} text delivered after 2 attempt(s)`,
      `    ${second} image delivered after 1 attempt(s)`
    ])
    // Given nothing folded, Then it says the conversation has not started
    assert.deepStrictEqual(formatSummary(Timeline.summarize(Timeline.foldUntil([]).state, 0)), [
      "state at version 0: not started"
    ])
  })
})
