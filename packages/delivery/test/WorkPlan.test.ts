import { assert, describe, it } from "@effect/vitest"
import { ConversationEvents, DecisionState, Ids } from "@messaging-api/domain"
import { nextWork, type Work } from "../src/WorkPlan.ts"

/**
 * The work loop's plan with no database and no clock: given a conversation's events, when the loop
 * looks at a time (with its endpoint paused or not), then what it does next.
 */

const installation = "0f4f6a2e-4b8c-4f39-9a53-7d0b1c2e3f40" as Ids.InstallationId
const conversationId = Ids.conversationIdFor(installation, "conv-1")
const alice = Ids.userIdFor(installation, "alice")
const m1 = Ids.userMessageIdFor(installation, "m-1")
const m2 = Ids.userMessageIdFor(installation, "m-2")
const reply = "6d0c3a52-3d0e-4d7e-9b4c-0b5a1c2d3e4f" as Ids.MessageId
const second = "7e1d4b63-4e1f-4e8f-8c5d-1c6b2d3e4f50" as Ids.MessageId

const now = Date.parse("2026-11-25T12:00:00.000Z")
const inSeconds = (seconds: number) => new Date(now + seconds * 1000).toISOString()

const started = new ConversationEvents.ConversationStarted({
  conversationId,
  installationId: installation,
  externalConversationId: "conv-1",
  startedAt: inSeconds(-60)
})
const received = (messageId: Ids.MessageId, external: string) =>
  new ConversationEvents.UserMessageReceived({
    messageId,
    externalMessageId: external,
    userId: alice,
    externalUserId: "alice",
    type: "text",
    text: "hello",
    payload: { text: "hello" },
    fingerprint: external,
    receivedAt: inSeconds(-30)
  })
const emitted = (messageId: Ids.MessageId) =>
  new ConversationEvents.BotMessageEmitted({
    messageId,
    inReplyTo: m1,
    type: "text",
    payload: { text: "hi" },
    emittedAt: inSeconds(-20)
  })
const completed = new ConversationEvents.BotTurnCompleted({
  userMessageId: m1,
  messageCount: 1,
  completedAt: inSeconds(-20)
})
const turnFailed = (userMessageId: Ids.MessageId, retryInSeconds: number) =>
  new ConversationEvents.BotTurnFailed({
    userMessageId,
    attempt: 1,
    reason: "timeout",
    retryAt: inSeconds(retryInSeconds),
    failedAt: inSeconds(-10)
  })
const attemptFailed = (messageId: Ids.MessageId, retryInSeconds: number) =>
  new ConversationEvents.DeliveryAttemptFailed({
    messageId,
    attempt: 1,
    status: 503,
    error: "HTTP 503",
    durationMs: 5,
    nextAttemptAt: inSeconds(retryInSeconds),
    failedAt: inSeconds(-5)
  })
const delivered = (messageId: Ids.MessageId) =>
  new ConversationEvents.MessageDelivered({
    messageId,
    attempt: 1,
    status: 200,
    durationMs: 5,
    deliveredAt: inSeconds(-5)
  })
const paused = new ConversationEvents.DeliveriesPaused({
  installationId: installation,
  failingSince: inSeconds(-600),
  endpointPausedAt: inSeconds(-300),
  lastError: "HTTP 503",
  pausedAt: inSeconds(-1)
})

/** A conversation whose one turn was answered with one message still to deliver. */
const answered = [started, received(m1, "m-1"), emitted(reply), completed]

const given = (...events: ReadonlyArray<ConversationEvents.ConversationEvent>) => {
  const state = DecisionState.fold(events)
  return {
    when: (endpoint: "healthy" | "paused" = "healthy"): Work => nextWork(state, now, endpoint === "paused")
  }
}

describe("Work plan", () => {
  it("a new user message: its bot turn runs now", () => {
    const work = given(started, received(m1, "m-1")).when()
    assert.strictEqual(work._tag, "Turn")
    assert.strictEqual(work._tag === "Turn" ? work.turn.userMessageId : undefined, m1)
  })

  it("bot turns go before deliveries, the oldest turn first", () => {
    const work = given(...answered, received(m2, "m-2")).when()
    assert.strictEqual(work._tag === "Turn" ? work.turn.userMessageId : undefined, m2)
  })

  it("a message waiting for delivery is delivered, the head of the outbox first", () => {
    const work = given(...answered.slice(0, 3), emitted(second), completed).when()
    assert.strictEqual(work._tag, "Deliver")
    assert.strictEqual(work._tag === "Deliver" ? work.message.messageId : undefined, reply)
  })

  it("a failed attempt waits for its retry time", () => {
    assert.deepStrictEqual(given(...answered, attemptFailed(reply, 30)).when(), {
      _tag: "Wait",
      until: now + 30_000
    })
  })

  it("the earliest of a turn's retry and a delivery's retry is when to look again", () => {
    const work = given(...answered, attemptFailed(reply, 30), received(m2, "m-2"), turnFailed(m2, 10)).when()
    assert.deepStrictEqual(work, { _tag: "Wait", until: now + 10_000 })
  })

  it("a retry that is due now runs now", () => {
    assert.strictEqual(given(...answered, attemptFailed(reply, 0)).when()._tag, "Deliver")
  })

  it("nothing left to do is idle", () => {
    assert.deepStrictEqual(given(...answered, delivered(reply)).when(), { _tag: "Idle" })
  })

  it("a delivery due while the endpoint is paused records the pause once, then is held", () => {
    assert.deepStrictEqual(given(...answered).when("paused"), { _tag: "Pause" })
    assert.deepStrictEqual(given(...answered, paused).when("paused"), { _tag: "Held", until: null })
  })

  it("held deliveries still let a bot turn run, and say when the next turn is due", () => {
    assert.strictEqual(given(...answered, paused, received(m2, "m-2")).when("paused")._tag, "Turn")
    assert.deepStrictEqual(
      given(...answered, paused, received(m2, "m-2"), turnFailed(m2, 20)).when("paused"),
      {
        _tag: "Held",
        until: now + 20_000
      }
    )
  })

  it("a recorded pause whose endpoint is healthy again is resumed before anything else", () => {
    assert.deepStrictEqual(given(...answered, paused, received(m2, "m-2")).when(), { _tag: "Resume" })
  })

  it("a delivery not yet due is not held by a paused endpoint: the loop waits for it", () => {
    assert.deepStrictEqual(given(...answered, attemptFailed(reply, 30)).when("paused"), {
      _tag: "Wait",
      until: now + 30_000
    })
  })
})
