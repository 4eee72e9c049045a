import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import {
  ConversationCommands,
  ConversationSnapshots,
  ConversationStream,
  Database,
  DecisionState,
  EventStore,
  Ids,
  Installations,
  Projector
} from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import { Deliveries } from "@messaging-api/domain/Deliveries"
import type { Installation } from "@messaging-api/domain/Installation"
import { Duration, Effect, HashMap, Layer, Schedule, Stream } from "effect"
import { Webhook } from "standardwebhooks"
import { inject } from "vitest"
import { replyIdFor } from "../src/ActorBotTurn.ts"
import * as ConversationsEngine from "../src/Conversations.ts"
import * as DeliveriesReadModel from "../src/Deliveries.ts"
import * as DeliverySettings from "../src/DeliverySettings.ts"
import * as Receiver from "./Receiver.ts"
import { userMessage } from "./UserMessages.ts"

/** This file's installations: its workers leave other test files' conversations alone (one database for all). */
const mine = new Set<string>()

const settings = DeliverySettings.make({
  onlyInstallations: mine,
  requestTimeout: Duration.millis(500),
  pollInterval: Duration.millis(100),
  drainTimeout: Duration.seconds(2),
  botTimeout: Duration.seconds(2),
  botTurnRetrySchedule: [10, 20, 40, 80, 160]
})

const Storage = Layer.mergeAll(
  EventStore.EventStore.layer,
  Installations.Installations.layer,
  ConversationSnapshots.ConversationSnapshots.layer.pipe(Layer.provide(EventStore.EventStore.layer))
).pipe(Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 12 })))

// Deliveries reads the read models, so the domain's projector follows the log beside the actors.
const TestLayer = Layer.mergeAll(
  ConversationsEngine.layer,
  DeliveriesReadModel.layer,
  Projector.Projector.layerFollowing({ pollInterval: "100 millis" })
).pipe(
  Layer.provide(Receiver.loopbackGuard),
  Layer.provide(Layer.succeed(DeliverySettings.DeliverySettings, settings)),
  Layer.provideMerge(Storage)
)

/** A millisecond schedule with plenty of steps: 5, 10, 20, 40, then 50 ms. */
const fastSchedule = [5, 10, 20, 40, ...Array.from({ length: 30 }, () => 50)]

const install = (responseUrl: string, options: Partial<Installations.NewInstallation> = {}) =>
  Effect.gen(function* () {
    const installations = yield* Installations.Installations
    const installation = yield* installations.create({
      bot: { _tag: "echo" },
      responseUrl,
      retrySchedule: fastSchedule,
      ...options
    })
    mine.add(installation.id)
    return installation
  })

const send = (installation: Installation, conversation: string, text: string) =>
  Effect.gen(function* () {
    const conversations = yield* Conversations
    const command = userMessage(installation, conversation, text)
    const received = yield* conversations.receive(command)
    assert.isFalse(received.duplicate)
    return command
  })

const textOf = (request: Receiver.ReceivedRequest) =>
  (JSON.parse(request.body) as { payload: { text: string } }).payload.text

/** Retries a check until it passes; the test's timeout bounds it. */
const eventually = <A, E, R>(check: Effect.Effect<A, E, R>) =>
  check.pipe(Effect.retry(Schedule.spaced("20 millis")))

const stateOf = (conversationId: Ids.ConversationId) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    return (yield* ConversationStream.load(store, conversationId)).state
  })

layer(TestLayer, { timeout: 120_000, excludeTestServices: true })("Conversations (actors)", (it) => {
  it.effect("delivers an echo reply with exactly the contract's body, signed for standardwebhooks", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make()
      const installation = yield* install(receiver.url)
      const conversation = `conv-${randomUUID()}`
      const command = yield* send(installation, conversation, "hello there")
      yield* receiver.waitFor((requests) => requests.length >= 1)

      const request = receiver.requests[0]!
      assert.deepStrictEqual(JSON.parse(request.body), {
        type: "text",
        payload: { text: "hello there" },
        conversationId: conversation,
        botpressUserId: command.userId,
        botpressMessageId: replyIdFor(command.messageId, 0),
        botpressConversationId: command.conversationId
      })
      assert.deepStrictEqual(Object.keys(JSON.parse(request.body)), [
        "type",
        "payload",
        "conversationId",
        "botpressUserId",
        "botpressMessageId",
        "botpressConversationId"
      ])
      assert.strictEqual(request.headers["content-type"], "application/json")
      assert.strictEqual(request.headers["webhook-id"], replyIdFor(command.messageId, 0))
      // Verified by the Standard Webhooks library, not by our code.
      const verified = new Webhook(installation.signingSecret).verify(request.body, request.headers)
      assert.deepStrictEqual(verified, JSON.parse(request.body))
      assert.throws(() => new Webhook(installation.signingSecret).verify(`${request.body} `, request.headers))

      // The log holds the reply before its delivery, then the delivery.
      const types = yield* eventually(
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const events = yield* Stream.runCollect(
            store.readStream(Ids.conversationStream(command.conversationId))
          )
          const types = events.map((event) => event.type)
          if (!types.includes("MessageDelivered")) return yield* Effect.fail("not delivered yet")
          return types
        })
      )
      assert.deepStrictEqual(types, [
        "ConversationStarted",
        "UserMessageReceived",
        "BotMessageEmitted",
        "BotTurnCompleted",
        "MessageDelivered"
      ])
    })
  )

  it.effect("delivers 50 messages of one conversation in order while the endpoint fails at random", () =>
    Effect.gen(function* () {
      // A fixed pseudo-random sequence: the same failures on every run.
      let seed = 7
      const random = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
        return seed / 2_147_483_648
      }
      const receiver = yield* Receiver.make(() => {
        const roll = random()
        if (roll < 0.2) return 500
        if (roll < 0.28) return 503
        if (roll < 0.36) return "hang"
        if (roll < 0.45) return "drop"
        return 200
      })
      const installation = yield* install(receiver.url)
      const conversation = `conv-${randomUUID()}`
      const texts = Array.from({ length: 50 }, (_, i) => `message ${String(i).padStart(2, "0")}`)
      const commands = yield* Effect.forEach(texts, (text) => send(installation, conversation, text))
      yield* receiver.waitFor((requests) => Receiver.firstAccepted(requests).length >= texts.length)

      assert.deepStrictEqual(Receiver.firstAccepted(receiver.requests).map(textOf), texts)
      assert.isAbove(receiver.requests.length, texts.length, "some attempts failed and were retried")
      // One webhook-id per message, the same on every attempt.
      const idsByText = new Map<string, Set<string>>()
      for (const request of receiver.requests) {
        const ids = idsByText.get(textOf(request)) ?? new Set<string>()
        ids.add(request.headers["webhook-id"] ?? "")
        idsByText.set(textOf(request), ids)
      }
      assert.strictEqual(idsByText.size, texts.length)
      texts.forEach((text, i) => {
        assert.deepStrictEqual([...(idsByText.get(text) ?? [])], [replyIdFor(commands[i]!.messageId, 0)])
      })

      // Every attempt is an event: failures with their status or error and duration, then the delivery.
      const store = yield* EventStore.EventStore
      const events = yield* eventually(
        Effect.gen(function* () {
          const events = yield* Stream.runCollect(
            store.readStream(Ids.conversationStream(commands[0]!.conversationId))
          ).pipe(Effect.flatMap(Effect.forEach(ConversationStream.fromRecorded)))
          const delivered = events.filter((event) => event._tag === "MessageDelivered").length
          return delivered === texts.length ? events : yield* Effect.fail("not all recorded yet")
        })
      )
      const failures = events.filter((event) => event._tag === "DeliveryAttemptFailed")
      assert.isAbove(failures.length, 0)
      for (const failure of failures) {
        assert.isTrue(failure.status !== null || failure.error.length > 0)
        assert.isAtLeast(failure.durationMs, 0)
      }
    })
  )

  it.effect("keeps every other conversation moving while one installation's endpoint hangs", () =>
    Effect.gen(function* () {
      const hung = yield* Receiver.make(() => "hang")
      const healthy = yield* Receiver.make()
      const stuck = yield* install(hung.url, { retrySchedule: Array.from({ length: 500 }, () => 20) })
      const fine = yield* install(healthy.url)

      const stuckCommands = yield* Effect.forEach([1, 2, 3], (i) =>
        send(stuck, `stuck-${i}-${randomUUID()}`, `stuck ${i}`)
      )
      yield* hung.waitFor((requests) => requests.length >= 3)

      const conversations = Array.from({ length: 20 }, (_, i) => `conv-${i}-${randomUUID()}`)
      yield* Effect.forEach(
        conversations,
        (conversation) =>
          Effect.forEach(["first", "second"], (text) => send(fine, conversation, `${conversation} ${text}`)),
        { concurrency: 10 }
      )
      yield* healthy.waitFor(
        (requests) => Receiver.firstAccepted(requests).length >= conversations.length * 2
      )

      const accepted = Receiver.firstAccepted(healthy.requests)
      for (const conversation of conversations) {
        const mine = accepted.filter((request) => JSON.parse(request.body).conversationId === conversation)
        assert.deepStrictEqual(mine.map(textOf), [`${conversation} first`, `${conversation} second`])
      }
      // Meanwhile the hung endpoint's conversations are still waiting on it.
      for (const command of stuckCommands) {
        const state = yield* stateOf(command.conversationId)
        const reply = HashMap.get(state.botMessages, replyIdFor(command.messageId, 0))
        assert.strictEqual(reply._tag === "Some" ? reply.value.status : "missing", "pending")
      }
    })
  )

  it.effect("dead-letters a permanent 4xx at once, then delivers it when redelivered", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make(() => 404)
      const installation = yield* install(receiver.url)
      const other = yield* install(receiver.url)
      const conversations = yield* Conversations
      const deliveries = yield* Deliveries
      const conversation = `conv-${randomUUID()}`
      const first = yield* send(installation, conversation, "first")
      const firstReply = replyIdFor(first.messageId, 0)

      const dead = yield* eventually(
        deliveries
          .list({ dead: true, installationIds: [installation.id] })
          .pipe(
            Effect.flatMap((list) =>
              list.length > 0 ? Effect.succeed(list) : Effect.fail("not dead-lettered yet")
            )
          )
      )
      assert.strictEqual(dead.length, 1)
      assert.strictEqual(dead[0]!.messageId, firstReply)
      assert.strictEqual(dead[0]!.attempts, 1)
      assert.strictEqual(dead[0]!.lastStatus, 404)
      assert.strictEqual(receiver.requests.length, 1, "a permanent failure is not retried")

      // A dead letter does not hold up the next message.
      receiver.setScript(() => 200)
      yield* send(installation, conversation, "second")
      yield* receiver.waitFor((requests) => Receiver.firstAccepted(requests).length >= 1)
      assert.deepStrictEqual(Receiver.firstAccepted(receiver.requests).map(textOf), ["second"])

      // Not found for an unknown message or for another installation's token.
      assert.strictEqual(
        (yield* Effect.flip(conversations.redeliver(randomUUID() as Ids.MessageId)))._tag,
        "UnknownBotMessage"
      )
      assert.strictEqual(
        (yield* Effect.flip(conversations.redeliver(firstReply, [other.id])))._tag,
        "UnknownBotMessage"
      )

      const accepted = yield* conversations.redeliver(firstReply, [installation.id])
      assert.deepStrictEqual(accepted, { messageId: firstReply, conversationId: first.conversationId })
      yield* receiver.waitFor((requests) => Receiver.firstAccepted(requests).length >= 2)
      const delivered = Receiver.firstAccepted(receiver.requests)
      assert.deepStrictEqual(delivered.map(textOf), ["second", "first"])
      assert.strictEqual(delivered[1]!.headers["webhook-id"], firstReply)
      assert.strictEqual((yield* Effect.flip(conversations.redeliver(firstReply)))._tag, "NotDeadLettered")

      const record = yield* eventually(
        deliveries
          .list({ installationIds: [installation.id] })
          .pipe(
            Effect.flatMap((list) =>
              list.some((entry) => entry.messageId === firstReply && entry.status === "delivered")
                ? Effect.succeed(list)
                : Effect.fail("not projected yet")
            )
          )
      )
      assert.strictEqual(record.length, 2)
      assert.deepStrictEqual(yield* deliveries.list({ dead: true, installationIds: [installation.id] }), [])
    })
  )

  it.effect("waits as a 429's Retry-After says, clamped to the schedule's floor", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make(({ index }) =>
        index === 0 ? { status: 429, headers: { "retry-after": "0" } } : 200
      )
      const installation = yield* install(receiver.url, { retrySchedule: [250, 60_000] })
      const command = yield* send(installation, `conv-${randomUUID()}`, "slow down")
      yield* receiver.waitFor((requests) => Receiver.firstAccepted(requests).length >= 1)
      const store = yield* EventStore.EventStore
      const failed = yield* eventually(
        Stream.runCollect(store.readStream(Ids.conversationStream(command.conversationId))).pipe(
          Effect.flatMap(Effect.forEach(ConversationStream.fromRecorded)),
          Effect.flatMap((events) => {
            const failure = events.find((event) => event._tag === "DeliveryAttemptFailed")
            return failure === undefined ? Effect.fail("not recorded yet") : Effect.succeed(failure)
          })
        )
      )
      assert.strictEqual(failed.status, 429)
      assert.strictEqual(Date.parse(failed.nextAttemptAt) - Date.parse(failed.failedAt), 250)
    })
  )

  it.effect("runs the http bot: a signed turn in, its JSON array out and delivered in order", () =>
    Effect.gen(function* () {
      const bot = yield* Receiver.make((request) => {
        const turn = JSON.parse(request.body) as { text: string }
        if (turn.text === "flaky" && request.index === 1) return 503
        if (turn.text === "bad")
          return { status: 200, body: JSON.stringify([{ type: "image", payload: {} }]) }
        return {
          status: 200,
          body: JSON.stringify([
            { type: "text", payload: { text: `you said ${turn.text}` } },
            { type: "choice", payload: { text: "pick", options: [{ label: "A", value: "a" }] } }
          ])
        }
      })
      const receiver = yield* Receiver.make()
      const installation = yield* install(receiver.url, { bot: { _tag: "http", url: bot.url } })
      const conversation = `conv-${randomUUID()}`
      const hi = yield* send(installation, conversation, "hi")
      yield* send(installation, conversation, "flaky")
      const bad = yield* send(installation, conversation, "bad")
      yield* receiver.waitFor((requests) => Receiver.firstAccepted(requests).length >= 4)

      assert.deepStrictEqual(
        Receiver.firstAccepted(receiver.requests).map((request) => JSON.parse(request.body).payload),
        [
          { text: "you said hi" },
          { text: "pick", options: [{ label: "A", value: "a" }] },
          { text: "you said flaky" },
          { text: "pick", options: [{ label: "A", value: "a" }] }
        ]
      )
      const turn = bot.requests[0]!
      assert.deepStrictEqual(new Webhook(installation.signingSecret).verify(turn.body, turn.headers), {
        type: "text",
        text: "hi",
        payload: { text: "hi" },
        conversationId: conversation,
        userId: "user-1",
        messageId: hi.externalMessageId,
        botpressConversationId: hi.conversationId,
        botpressUserId: hi.userId,
        botpressMessageId: hi.messageId
      })

      // The flaky turn failed once and was retried; the bad one failed for good.
      const store = yield* EventStore.EventStore
      const failures = yield* eventually(
        Stream.runCollect(store.readStream(Ids.conversationStream(hi.conversationId))).pipe(
          Effect.flatMap(Effect.forEach(ConversationStream.fromRecorded)),
          Effect.flatMap((events) => {
            const failed = events.filter((event) => event._tag === "BotTurnFailed")
            return failed.length >= 2 ? Effect.succeed(failed) : Effect.fail("not recorded yet")
          })
        )
      )
      assert.isTrue(failures[0]!.reason.includes("503"))
      assert.isNotNull(failures[0]!.retryAt)
      assert.strictEqual(failures[1]!.userMessageId, bad.messageId)
      assert.isNull(failures[1]!.retryAt)
      assert.isTrue(failures[1]!.reason.includes("image"))
      const state = yield* stateOf(hi.conversationId)
      assert.strictEqual(state.openTurns.length, 0)
    })
  )

  it.effect("delivers messages the bot posts later, after the replies, to the last user", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make()
      const installation = yield* install(receiver.url)
      const other = yield* install(receiver.url)
      const conversations = yield* Conversations
      const conversation = `conv-${randomUUID()}`
      const hello = yield* send(installation, conversation, "hello")
      yield* receiver.waitFor((requests) => Receiver.firstAccepted(requests).length >= 1)

      const posted = yield* conversations.post(
        hello.conversationId,
        { type: "markdown", payload: { markdown: "**later**" } },
        [installation.id]
      )
      const custom = yield* conversations.post(hello.conversationId, {
        type: "custom",
        payload: { any: [1, 2] }
      })
      yield* receiver.waitFor((requests) => Receiver.firstAccepted(requests).length >= 3)
      const delivered = Receiver.firstAccepted(receiver.requests).map((request) => JSON.parse(request.body))
      assert.deepStrictEqual(delivered[1], {
        type: "markdown",
        payload: { markdown: "**later**" },
        conversationId: conversation,
        botpressUserId: hello.userId,
        botpressMessageId: posted.messageId,
        botpressConversationId: hello.conversationId
      })
      assert.deepStrictEqual(
        [delivered[2].type, delivered[2].payload, delivered[2].botpressMessageId],
        ["custom", { any: [1, 2] }, custom.messageId]
      )

      const invalid = yield* Effect.flip(
        conversations.post(hello.conversationId, { type: "image", payload: {} })
      )
      assert.strictEqual(invalid._tag, "InvalidMessagePayload")
      const message = { type: "text", payload: { text: "x" } }
      assert.strictEqual(
        (yield* Effect.flip(conversations.post(randomUUID() as Ids.ConversationId, message)))._tag,
        "ConversationNotFound"
      )
      assert.strictEqual(
        (yield* Effect.flip(conversations.post(hello.conversationId, message, [other.id])))._tag,
        "ConversationNotFound"
      )
    })
  )

  it.effect("answers a repeated user message as a duplicate, without a second bot turn", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make()
      const installation = yield* install(receiver.url)
      const conversations = yield* Conversations
      const command = userMessage(installation, `conv-${randomUUID()}`, "once")
      assert.isFalse((yield* conversations.receive(command)).duplicate)
      const again = yield* conversations.receive(command)
      assert.isTrue(again.duplicate)
      assert.strictEqual(again.messageId, command.messageId)
      const reused = yield* Effect.flip(
        conversations.receive(
          new ConversationCommands.ReceiveUserMessage({ ...command, fingerprint: "other" })
        )
      )
      assert.strictEqual(reused._tag, "MessageIdReused")
      yield* receiver.waitFor((requests) => Receiver.firstAccepted(requests).length >= 1)
      const state = yield* stateOf(command.conversationId)
      assert.strictEqual(HashMap.size(state.botMessages), 1)
    })
  )

  it.effect("answers a repeat as a duplicate after the message left the actor's window of recent ones", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make()
      const installation = yield* install(receiver.url)
      const conversations = yield* Conversations
      const conversation = `conv-${randomUUID()}`
      const first = userMessage(installation, conversation, "the first")
      yield* conversations.receive(first)
      // Enough later messages that the actor no longer holds the first one.
      const later = DecisionState.RECENT_USER_MESSAGES + 3
      for (let i = 0; i < later; i++) yield* send(installation, conversation, `later ${i}`)
      const held = yield* conversations.state(first.conversationId)
      assert.isFalse(held.state.recentUserMessages.some((seen) => seen.messageId === first.messageId))

      // The event store's unique event id still knows it: the same answer as before, nothing appended.
      const again = yield* conversations.receive(first)
      assert.deepStrictEqual(again, {
        messageId: first.messageId,
        userId: first.userId,
        conversationId: first.conversationId,
        duplicate: true
      })
      const reused = yield* Effect.flip(
        conversations.receive(new ConversationCommands.ReceiveUserMessage({ ...first, fingerprint: "other" }))
      )
      assert.strictEqual(reused._tag, "MessageIdReused")
      const stored = yield* stateOf(first.conversationId)
      assert.strictEqual(HashMap.size(stored.userMessages), later + 1)

      // Over a hundred events: once its loop settles, the actor has saved a snapshot, and loading
      // from it gives the state a fold from the start gives.
      yield* receiver.waitFor((requests) => Receiver.firstAccepted(requests).length >= later + 1)
      const snapshots = yield* ConversationSnapshots.ConversationSnapshots
      const fromSnapshot = yield* eventually(
        snapshots
          .load(first.conversationId)
          .pipe(
            Effect.filterOrFail((loaded) => loaded.snapshotVersion >= ConversationSnapshots.SNAPSHOT_EVERY)
          )
      )
      const fromStart = yield* ConversationStream.loadDecisionState(
        yield* EventStore.EventStore,
        first.conversationId
      )
      assert.strictEqual(fromSnapshot.version, fromStart.version)
      assert.deepStrictEqual(fromSnapshot.state, fromStart.state)
    })
  )
})
