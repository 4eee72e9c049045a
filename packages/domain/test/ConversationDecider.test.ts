import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import {
  CompleteBotTurn,
  type ConversationCommand,
  FailBotTurn,
  PauseDeliveries,
  PostBotMessage,
  ReceiveUserMessage,
  RecordDeliveryAttempt,
  RequestRedelivery,
  ResumeDeliveries
} from "../src/ConversationCommands.ts"
import { decide } from "../src/ConversationDecider.ts"
import type { ConversationEvent } from "../src/ConversationEvents.ts"
import { fold, initialState, nextDelivery } from "../src/DecisionState.ts"
import {
  type ConversationId,
  conversationIdFor,
  type InstallationId,
  type MessageId,
  newMessageId,
  userIdFor,
  userMessageIdFor
} from "../src/Ids.ts"

// Given events, when a command, then events (or a rejection): no database involved.
const given = (events: ReadonlyArray<ConversationEvent>) => ({
  when: (command: ConversationCommand) => decide(command, fold(events))
})
const thenEvents = (decision: ReturnType<typeof decide>) => {
  if (Result.isFailure(decision)) return assert.fail(`expected events, got ${decision.failure._tag}`)
  return decision.success
}
const thenRejected = (decision: ReturnType<typeof decide>) => {
  if (Result.isSuccess(decision)) return assert.fail("expected a rejection")
  return decision.failure
}

const installation = "0f4f6a2e-4b8c-4f39-9a53-7d0b1c2e3f40" as InstallationId
const conversationId: ConversationId = conversationIdFor(installation, "conv-1")
const at = "2026-11-25T12:00:00.000Z"

const receive = (externalMessageId: string, text = "hello") =>
  new ReceiveUserMessage({
    conversationId,
    installationId: installation,
    externalConversationId: "conv-1",
    messageId: userMessageIdFor(installation, externalMessageId),
    externalMessageId,
    userId: userIdFor(installation, "user-1"),
    externalUserId: "user-1",
    type: "text",
    text,
    payload: { text },
    fingerprint: `fp:${text}`,
    at
  })

const eventsOf = (...commands: ReadonlyArray<ConversationCommand>): ReadonlyArray<ConversationEvent> => {
  const events: Array<ConversationEvent> = []
  for (const command of commands) events.push(...thenEvents(given(events).when(command)))
  return events
}

describe("Conversation decide/evolve", () => {
  it("starts the conversation with its first user message", () => {
    const events = thenEvents(given([]).when(receive("m1")))
    assert.deepStrictEqual(
      events.map((event) => event._tag),
      ["ConversationStarted", "UserMessageReceived"]
    )
    const state = fold(events)
    assert.strictEqual(state.started?.externalConversationId, "conv-1")
    assert.strictEqual(state.openTurns.length, 1)
  })

  it("a pull-only conversation records its bot messages as pull: none enters the outbox", () => {
    const first = receive("m1")
    const pull = new ReceiveUserMessage({ ...first, delivery: "pull" })
    const completed = new CompleteBotTurn({
      userMessageId: first.messageId,
      messages: [{ messageId: newMessageId(), type: "text", payload: { text: "hi" } }],
      at
    })
    const posted = new PostBotMessage({
      message: { messageId: newMessageId(), type: "text", payload: { text: "later" } },
      at
    })
    const events = eventsOf(pull, completed, posted)
    const started = events.find((event) => event._tag === "ConversationStarted")
    assert.strictEqual(started?.delivery, "pull")
    const emitted = events.filter((event) => event._tag === "BotMessageEmitted")
    assert.deepStrictEqual(
      emitted.map((event) => event.delivery),
      ["pull", "pull"]
    )
    assert.deepStrictEqual(fold(events).outbox, [])
    // The same messages in a conversation with a response endpoint are delivered.
    const pushed = eventsOf(first, completed, posted).filter((event) => event._tag === "BotMessageEmitted")
    assert.deepStrictEqual(
      pushed.map((event) => event.delivery),
      [undefined, undefined]
    )
    assert.strictEqual(fold(eventsOf(first, completed, posted)).outbox.length, 2)
  })

  it("appends only the message once the conversation exists", () => {
    const events = thenEvents(given(eventsOf(receive("m1"))).when(receive("m2", "again")))
    assert.deepStrictEqual(
      events.map((event) => event._tag),
      ["UserMessageReceived"]
    )
  })

  it("answers a repeat of the same message as a duplicate of the original", () => {
    const rejection = thenRejected(given(eventsOf(receive("m1"))).when(receive("m1")))
    assert.strictEqual(rejection._tag, "DuplicateUserMessage")
  })

  it("refuses a reused messageId with another body", () => {
    const rejection = thenRejected(given(eventsOf(receive("m1"))).when(receive("m1", "different")))
    assert.strictEqual(rejection._tag, "MessageIdReused")
  })

  it("emits bot messages and closes the turn, then queues them for delivery in order", () => {
    const userMessageId = userMessageIdFor(installation, "m1")
    const replies = [newMessageId(), newMessageId()]
    const history = eventsOf(
      receive("m1"),
      new CompleteBotTurn({
        userMessageId,
        messages: replies.map((messageId) => ({ messageId, type: "text", payload: { text: "hi" } })),
        at
      })
    )
    const state = fold(history)
    assert.strictEqual(state.openTurns.length, 0)
    assert.deepStrictEqual(
      state.outbox.map((message) => message.messageId),
      replies
    )
    assert.strictEqual(nextDelivery(state)?.messageId, replies[0])
    // Completing the same turn again adds nothing.
    assert.deepStrictEqual(
      thenEvents(given(history).when(new CompleteBotTurn({ userMessageId, messages: [], at }))),
      []
    )
  })

  it("keeps a failed turn open with its retry time, and closes it when the policy gives up", () => {
    const userMessageId = userMessageIdFor(installation, "m1")
    const retried = eventsOf(
      receive("m1"),
      new FailBotTurn({ userMessageId, reason: "timeout", retryAt: "2026-11-25T12:00:05.000Z", at })
    )
    const { message, ...turn } = fold(retried).openTurns[0]!
    assert.deepStrictEqual(turn, {
      userMessageId,
      userId: userIdFor(installation, "user-1"),
      failures: 1,
      retryAt: "2026-11-25T12:00:05.000Z"
    })
    // The turn carries the message the bot answers.
    assert.strictEqual(message.messageId, userMessageId)
    const gaveUp = [
      ...retried,
      ...thenEvents(
        given(retried).when(new FailBotTurn({ userMessageId, reason: "timeout", retryAt: null, at }))
      )
    ]
    assert.strictEqual(fold(gaveUp).openTurns.length, 0)
  })

  it("records attempts only for the head of the outbox; dead letters unblock the next message", () => {
    const first = newMessageId()
    const second = newMessageId()
    const history = eventsOf(
      receive("m1"),
      new CompleteBotTurn({
        userMessageId: userMessageIdFor(installation, "m1"),
        messages: [first, second].map((messageId) => ({ messageId, type: "text", payload: { text: "x" } })),
        at
      })
    )
    const outOfOrder = thenEvents(
      given(history).when(
        new RecordDeliveryAttempt({
          messageId: second,
          outcome: { _tag: "Delivered", status: 200 },
          durationMs: 3,
          at
        })
      )
    )
    assert.deepStrictEqual(outOfOrder, [])

    const afterRetry = [
      ...history,
      ...thenEvents(
        given(history).when(
          new RecordDeliveryAttempt({
            messageId: first,
            outcome: { _tag: "Retry", status: 503, error: "HTTP 503", nextAttemptAt: at },
            durationMs: 3,
            at
          })
        )
      )
    ]
    const dead = [
      ...afterRetry,
      ...thenEvents(
        given(afterRetry).when(
          new RecordDeliveryAttempt({
            messageId: first,
            outcome: { _tag: "DeadLetter", status: 404, reason: "HTTP 404" },
            durationMs: 3,
            at
          })
        )
      )
    ]
    const state = fold(dead)
    assert.strictEqual(nextDelivery(state)?.messageId, second)
    const deadMessage = state.deadLetters.find((message) => message.messageId === first)
    assert.strictEqual(deadMessage?.status, "dead_lettered")
    assert.strictEqual(deadMessage?.attempts, 2)

    const redelivered = thenEvents(given(dead).when(new RequestRedelivery({ messageId: first, at })))
    assert.deepStrictEqual(
      redelivered.map((event) => event._tag),
      ["RedeliveryRequested"]
    )
    assert.deepStrictEqual(
      fold([...dead, ...redelivered]).outbox.map((message) => message.messageId),
      [second, first]
    )
    assert.strictEqual(
      thenRejected(given(history).when(new RequestRedelivery({ messageId: second, at })))._tag,
      "NotDeadLettered"
    )
    // A caller scoped to another installation does not see the conversation; one scoped to its own does.
    const other = "5a0c8f3e-1d2b-4c6a-8e9f-0a1b2c3d4e5f" as InstallationId
    assert.strictEqual(
      thenRejected(given(dead).when(new RequestRedelivery({ messageId: first, scope: [other], at })))._tag,
      "ConversationNotStarted"
    )
    assert.strictEqual(
      thenEvents(
        given(dead).when(new RequestRedelivery({ messageId: first, scope: [other, installation], at }))
      ).length,
      1
    )
  })

  it("accepts messages posted by the bot only into a started conversation", () => {
    const message = { messageId: newMessageId() as MessageId, type: "text", payload: { text: "later" } }
    assert.strictEqual(
      thenRejected(given([]).when(new PostBotMessage({ message, at })))._tag,
      "ConversationNotStarted"
    )
    const events = thenEvents(given(eventsOf(receive("m1"))).when(new PostBotMessage({ message, at })))
    assert.strictEqual(events[0]?._tag, "BotMessageEmitted")
    // A poster scoped to another installation does not see the conversation.
    const other = "5a0c8f3e-1d2b-4c6a-8e9f-0a1b2c3d4e5f" as InstallationId
    assert.strictEqual(
      thenRejected(given(eventsOf(receive("m1"))).when(new PostBotMessage({ message, scope: [other], at })))
        ._tag,
      "ConversationNotStarted"
    )
    assert.strictEqual(
      thenEvents(
        given(eventsOf(receive("m1"))).when(new PostBotMessage({ message, scope: [installation], at }))
      ).length,
      1
    )
  })

  it("addresses replies to the user of their turn, and bot-posted messages to the last user", () => {
    const first = userIdFor(installation, "user-1")
    const second = userIdFor(installation, "user-2")
    const fromSecond = new ReceiveUserMessage({
      ...receive("m2", "from the second user"),
      userId: second,
      externalUserId: "user-2"
    })
    const reply = newMessageId()
    const posted = newMessageId()
    const state = fold(
      eventsOf(
        receive("m1"),
        fromSecond,
        new CompleteBotTurn({
          userMessageId: userMessageIdFor(installation, "m1"),
          messages: [{ messageId: reply, type: "text", payload: { text: "to the first" } }],
          at
        }),
        new PostBotMessage({ message: { messageId: posted, type: "text", payload: { text: "later" } }, at })
      )
    )
    assert.strictEqual(state.lastUserId, second)
    const addressee = (id: MessageId) => state.outbox.find((message) => message.messageId === id)?.userId
    assert.strictEqual(addressee(reply), first)
    assert.strictEqual(addressee(posted), second)
  })

  it("records a pause once, only with a delivery to hold back, and its end only after it", () => {
    const pause = new PauseDeliveries({
      failingSince: "2026-11-20T12:00:00.000Z",
      endpointPausedAt: "2026-11-25T11:59:00.000Z",
      lastError: "HTTP 503",
      at
    })
    const resume = new ResumeDeliveries({ at: "2026-11-25T13:00:00.000Z" })
    const received = eventsOf(receive("m1"))
    // Nothing to hold back (no bot message yet): nothing recorded; nor in a conversation not started.
    assert.deepStrictEqual(thenEvents(given(received).when(pause)), [])
    assert.deepStrictEqual(thenEvents(given([]).when(pause)), [])

    const reply = newMessageId()
    const pending = eventsOf(
      receive("m1"),
      new CompleteBotTurn({
        userMessageId: userMessageIdFor(installation, "m1"),
        messages: [{ messageId: reply, type: "text", payload: { text: "x" } }],
        at
      })
    )
    // Not paused: resuming records nothing.
    assert.deepStrictEqual(thenEvents(given(pending).when(resume)), [])

    const paused = thenEvents(given(pending).when(pause))
    assert.strictEqual(paused.length, 1)
    const event = paused[0]!
    assert.strictEqual(event._tag, "DeliveriesPaused")
    if (event._tag === "DeliveriesPaused") {
      assert.strictEqual(event.installationId, installation)
      assert.strictEqual(event.failingSince, "2026-11-20T12:00:00.000Z")
      assert.strictEqual(event.endpointPausedAt, "2026-11-25T11:59:00.000Z")
      assert.strictEqual(event.lastError, "HTTP 503")
      assert.strictEqual(event.pausedAt, at)
    }
    const held = fold([...pending, ...paused])
    assert.strictEqual(held.deliveriesPausedAt, at)
    // The held message stays pending at the head, untouched.
    assert.strictEqual(nextDelivery(held)?.messageId, reply)
    assert.strictEqual(nextDelivery(held)?.attempts, 0)
    // A second pause while paused records nothing.
    assert.deepStrictEqual(thenEvents(given([...pending, ...paused]).when(pause)), [])

    const resumed = thenEvents(given([...pending, ...paused]).when(resume))
    assert.deepStrictEqual(
      resumed.map((e) => e._tag),
      ["DeliveriesResumed"]
    )
    const after = fold([...pending, ...paused, ...resumed])
    assert.strictEqual(after.deliveriesPausedAt, null)
    assert.strictEqual(nextDelivery(after)?.messageId, reply)
    // Resumed once: a second resume records nothing, and a later pause is recorded again.
    assert.deepStrictEqual(thenEvents(given([...pending, ...paused, ...resumed]).when(resume)), [])
    assert.strictEqual(thenEvents(given([...pending, ...paused, ...resumed]).when(pause)).length, 1)
  })

  it("folds from the initial state", () => {
    assert.strictEqual(fold([]), initialState)
  })
})
