import { randomUUID } from "node:crypto"
import { ReadModels } from "@messaging-api/domain"
import { assert, describe, it } from "vitest"
import * as Timeline from "../web/Timeline.ts"

// The console's timeline is one fold of the conversation's stored events, as the live stream
// hands them over (again after a reconnect).

const conversationId = randomUUID()
const userMessageId = randomUUID()
const botMessageId = randomUUID()
const at = "2026-01-01T00:00:00.000Z"

const stored = (version: number, type: string, data: Record<string, unknown>) =>
  new ReadModels.StoredEvent({
    eventId: randomUUID(),
    version,
    position: version,
    type,
    data,
    metadata: {},
    recordedAt: at
  })

const events = [
  stored(1, "ConversationStarted", {
    conversationId,
    installationId: randomUUID(),
    externalConversationId: "support-42",
    startedAt: at
  }),
  stored(2, "UserMessageReceived", {
    messageId: userMessageId,
    externalMessageId: "m-1",
    userId: randomUUID(),
    externalUserId: "user-1",
    type: "text",
    text: "hello",
    payload: { text: "hello" },
    fingerprint: "f",
    receivedAt: at
  }),
  stored(3, "BotMessageEmitted", {
    messageId: botMessageId,
    inReplyTo: userMessageId,
    type: "text",
    payload: { text: "hello" },
    emittedAt: at
  }),
  stored(4, "DeliveryAttemptFailed", {
    messageId: botMessageId,
    attempt: 1,
    status: 503,
    error: "HTTP 503",
    durationMs: 3,
    nextAttemptAt: at,
    failedAt: at
  }),
  stored(5, "DeliveryAttemptFailed", {
    messageId: botMessageId,
    attempt: 2,
    status: 410,
    error: "HTTP 410",
    durationMs: 3,
    nextAttemptAt: at,
    failedAt: at
  }),
  stored(6, "MessageDeadLettered", {
    messageId: botMessageId,
    attempt: 2,
    status: 410,
    reason: "HTTP 410",
    deadLetteredAt: at
  })
]

const fold = (list: ReadonlyArray<ReadModels.StoredEvent>) => list.reduce(Timeline.apply, Timeline.empty)

describe("the console's timeline", () => {
  it("shows the user message, the reply and each attempt, the last one as a dead letter", () => {
    const timeline = fold(events)
    assert.strictEqual(timeline.externalConversationId, "support-42")
    assert.strictEqual(timeline.version, 6)
    assert.deepStrictEqual(
      timeline.entries.map((entry) => entry.kind),
      ["user", "bot"]
    )
    const bot = timeline.entries[1]
    assert(bot?.kind === "bot")
    assert.strictEqual(bot.status, "dead_lettered")
    assert.deepStrictEqual(
      bot.attempts.map((attempt) => [attempt.attempt, attempt.outcome, attempt.status]),
      [
        [1, "failed", 503],
        [2, "dead_lettered", 410]
      ]
    )
  })

  it("folds an event it already has once: a resumed stream that repeats one changes nothing", () => {
    assert.deepStrictEqual(fold([...events.slice(0, 4), ...events.slice(2)]), fold(events))
  })

  it("puts a redelivered message back to pending, then delivered", () => {
    const timeline = fold([
      ...events,
      stored(7, "RedeliveryRequested", { messageId: botMessageId, requestedAt: at }),
      stored(8, "MessageDelivered", {
        messageId: botMessageId,
        attempt: 1,
        status: 200,
        durationMs: 2,
        deliveredAt: at
      })
    ])
    const bot = timeline.entries.find((entry) => entry.kind === "bot")
    assert(bot?.kind === "bot")
    assert.strictEqual(bot.status, "delivered")
    assert.deepStrictEqual(bot.attempts.at(-1)?.outcome, "delivered")
    assert.isTrue(
      timeline.entries.some((entry) => entry.kind === "note" && entry.text === "Redelivery requested")
    )
  })
})
