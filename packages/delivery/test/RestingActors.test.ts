import { assert, describe, it, layer } from "@effect/vitest"
import { ConversationEvents, ConversationStream, EventStore, Ids, Installations } from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import * as Metrics from "@messaging-api/domain/Metrics"
import { Duration, Effect, Metric, Result, Schedule, Stream } from "effect"
import { write } from "../src/ConversationWriter.ts"
import * as DeliverySettings from "../src/DeliverySettings.ts"
import { RestingActors } from "../src/RestingActors.ts"
import * as EchoEngine from "./EchoEngine.ts"
import * as Receiver from "./Receiver.ts"
import { userMessage } from "./UserMessages.ts"

/**
 * An idle conversation leaves its cluster entity after `restAfter` and rests as its decision state
 * until `passivateAfter`. A resting state may be older than the log, as a live actor's may: here
 * another writer appends to the conversation while it rests, and the conversation must still
 * answer a repeat as a duplicate, append the next message after it (not over it), and answer every
 * user message with exactly one reply, in order.
 */

describe("RestingActors", () => {
  const state = (version: number): ConversationStream.LoadedDecisionState =>
    ({ version, state: {} }) as unknown as ConversationStream.LoadedDecisionState
  const id = "0b5c6f0e-8f5e-5a4b-9c1d-2e3f4a5b6c7d" as Ids.ConversationId

  it("hands a state back once, keeps the later of two versions, and lets expired ones go", () => {
    const resting = new RestingActors(1_000)
    resting.put(id, state(5), 3, 0)
    resting.put(id, state(4), 3, 10)
    const rest = resting.take(id, 500)
    assert.strictEqual(rest?.current.version, 5)
    assert.strictEqual(rest?.snapshotVersion, 3)
    assert.isUndefined(resting.take(id, 500))

    resting.put(id, state(6), 0, 0)
    assert.isUndefined(resting.take(id, 1_000), "expired at put time + lifetime")
    resting.put(id, state(7), 0, 0)
    resting.sweep(999)
    assert.strictEqual(resting.size, 1)
    resting.sweep(1_000)
    assert.strictEqual(resting.size, 0)
  })
})

const mine = new Set<string>()

const settings = DeliverySettings.make({
  onlyInstallations: mine,
  passivateAfter: Duration.minutes(10),
  // The cluster's reaper looks every 5 s at the least: the entity leaves within that.
  restAfter: Duration.millis(100),
  pollInterval: Duration.millis(50),
  drainTimeout: Duration.seconds(2)
})

const TestLayer = EchoEngine.layer(settings, { maxConnections: 6 })

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("a resting conversation", (it) => {
  it.effect("comes back with its guarantees when another writer appended while it rested", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make()
      const installation = yield* (yield* Installations.Installations).create({
        bot: { _tag: "echo" },
        responseUrl: receiver.url,
        retrySchedule: [10, 20, 40]
      })
      mine.add(installation.id)
      const conversations = yield* Conversations
      const store = yield* EventStore.EventStore

      const first = userMessage(installation, "resting", "first")
      yield* conversations.receive(first)
      yield* receiver.waitFor((requests) => requests.length >= 1)

      // The entity leaves; the conversation rests.
      yield* Metric.value(Metrics.liveConversations).pipe(
        Effect.repeat({
          until: (gauge) => gauge.value === 0,
          schedule: Schedule.spaced("50 millis")
        })
      )

      // Another writer (the CLI's front door reads the log afresh) appends while it rests.
      const second = userMessage(installation, "resting", "second")
      yield* write(store, first.conversationId, second)

      const repeat = yield* conversations.receive(second)
      assert.isTrue(repeat.duplicate, "a repeat of what the other writer appended is a duplicate")

      const third = userMessage(installation, "resting", "third")
      yield* conversations.receive(third)
      yield* receiver.waitFor((requests) => requests.length >= 3)

      const events = Array.from(
        yield* Stream.runCollect(store.readStream(Ids.conversationStream(first.conversationId))),
        (recorded) => Result.getOrThrow(ConversationStream.decodeRecorded(recorded))
      )
      const received = events.filter((event) => event instanceof ConversationEvents.UserMessageReceived)
      assert.deepStrictEqual(
        received.map((event) => event.text),
        ["first", "second", "third"]
      )
      const replies = events.filter((event) => event instanceof ConversationEvents.BotMessageEmitted)
      assert.deepStrictEqual(
        replies.map((event) => event.inReplyTo),
        [first.messageId, second.messageId, third.messageId]
      )
      const delivered = receiver.requests.map(
        (request) => (JSON.parse(request.body) as { payload: unknown }).payload
      )
      assert.deepStrictEqual(delivered, [{ text: "first" }, { text: "second" }, { text: "third" }])
    })
  )
})
