import { assert, layer } from "@effect/vitest"
import { ConversationEvents, ConversationStream, EventStore, Ids } from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import * as Metrics from "@messaging-api/domain/Metrics"
import { Deferred, Duration, Effect, Layer, Metric, Result, Schedule, Stream } from "effect"
import { Bot } from "../src/Bot.ts"
import { write } from "../src/ConversationWriter.ts"
import * as DeliverySettings from "../src/DeliverySettings.ts"
import * as EchoBot from "../src/EchoBot.ts"
import * as EchoEngine from "./EchoEngine.ts"
import * as Receiver from "./Receiver.ts"
import { userMessage } from "./UserMessages.ts"

/**
 * The actors of a process alone (`LocalActors`): an actor leaves memory once nothing has used it
 * for `passivateAfter`, never while something does, and a conversation that comes back reads its
 * state from the log with every guarantee it had.
 */

const eventsOf = (conversationId: Ids.ConversationId) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    return Array.from(
      yield* Stream.runCollect(store.readStream(Ids.conversationStream(conversationId))),
      (recorded) => Result.getOrThrow(ConversationStream.decodeRecorded(recorded))
    )
  })

const liveConversations = Metric.value(Metrics.liveConversations).pipe(Effect.map((gauge) => gauge.value))

const untilLive = (predicate: (live: number) => boolean) =>
  liveConversations.pipe(Effect.repeat({ until: predicate, schedule: Schedule.spaced("20 millis") }))

const passivating = new Set<string>()

const Passivating = EchoEngine.layer(
  DeliverySettings.make({
    onlyInstallations: passivating,
    passivateAfter: Duration.millis(100),
    pollInterval: Duration.millis(50),
    drainTimeout: Duration.seconds(2)
  }),
  { maxConnections: 6 }
)

layer(Passivating, { timeout: 60_000, excludeTestServices: true })("a passivated conversation", (it) => {
  it.effect("comes back from the log with its guarantees when another writer appended meanwhile", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make()
      const installation = yield* EchoEngine.echoInstallation(passivating, receiver)
      const conversations = yield* Conversations
      const store = yield* EventStore.EventStore

      const first = userMessage(installation, "passivated", "first")
      yield* conversations.receive(first)
      yield* receiver.waitFor((requests) => requests.length >= 1)

      // Nothing uses the actor once its reply is delivered: it leaves memory.
      yield* untilLive((live) => live === 0)

      // Another writer (the CLI's front door reads the log afresh) appends while it is away.
      const second = userMessage(installation, "passivated", "second")
      yield* write(store, first.conversationId, second)

      const repeat = yield* conversations.receive(second)
      assert.isTrue(repeat.duplicate, "a repeat of what the other writer appended is a duplicate")

      const third = userMessage(installation, "passivated", "third")
      yield* conversations.receive(third)
      yield* receiver.waitFor((requests) => requests.length >= 3)

      const events = yield* eventsOf(first.conversationId)
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

/** Every bot turn, by the user message it answers; each waits for `gate` before answering. */
const turns: Array<string> = []
const gate = Deferred.makeUnsafe<void>()
const GatedEcho = Layer.succeed(
  Bot,
  Bot.of({
    respond: (turn) => {
      turns.push(turn.message.messageId)
      return Stream.fromEffect(Deferred.await(gate)).pipe(Stream.flatMap(() => EchoBot.respond(turn)))
    }
  })
)

const busy = new Set<string>()

const Busy = EchoEngine.layer(
  DeliverySettings.make({
    onlyInstallations: busy,
    passivateAfter: Duration.millis(20),
    pollInterval: Duration.millis(50),
    drainTimeout: Duration.seconds(2)
  }),
  { maxConnections: 6, bot: GatedEcho }
)

layer(Busy, { timeout: 60_000, excludeTestServices: true })("an actor in use", (it) => {
  it.effect("is not passivated: a second actor would run the open bot turn a second time", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make()
      const installation = yield* EchoEngine.echoInstallation(busy, receiver)
      const conversations = yield* Conversations

      const first = userMessage(installation, "busy", "first")
      yield* conversations.receive(first)
      // The loop runs the bot turn, which waits: the actor is in use, long past `passivateAfter`
      // and over many sweeps.
      yield* Effect.suspend(() => Effect.succeed(turns.length)).pipe(
        Effect.repeat({ until: (count) => count >= 1, schedule: Schedule.spaced("10 millis") })
      )
      yield* Effect.sleep("300 millis")
      assert.strictEqual(yield* liveConversations, 1)

      const second = userMessage(installation, "busy", "second")
      yield* conversations.receive(second)
      yield* Deferred.succeed(gate, undefined)
      yield* receiver.waitFor((requests) => requests.length >= 2)

      assert.deepStrictEqual(turns, [first.messageId, second.messageId], "one bot turn per user message")
      const delivered = receiver.requests.map(
        (request) => (JSON.parse(request.body) as { payload: unknown }).payload
      )
      assert.deepStrictEqual(delivered, [{ text: "first" }, { text: "second" }])
    })
  )
})
