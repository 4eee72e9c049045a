import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import {
  ConversationCommands,
  ConversationStream,
  Database,
  EventStore,
  Ids,
  Installations
} from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import { Duration, Effect, Layer, Schedule, Stream } from "effect"
import { inject } from "vitest"
import { replyIdFor } from "../src/ActorBotTurn.ts"
import * as ConversationsEngine from "../src/Conversations.ts"
import { write } from "../src/ConversationWriter.ts"
import * as DeliverySettings from "../src/DeliverySettings.ts"
import * as Receiver from "./Receiver.ts"
import { userMessage } from "./UserMessages.ts"

const Storage = Layer.mergeAll(EventStore.EventStore.layer, Installations.Installations.layer).pipe(
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 12 }))
)

/** This file's installations: its workers leave other test files' conversations alone (one database for all). */
const mine = new Set<string>()

/** The actors as a server runs them; built and closed inside each test, like a process starting and stopping. */
const actors = (overrides: Partial<DeliverySettings.DeliverySettingsShape> = {}) =>
  ConversationsEngine.layer.pipe(
    Layer.provide(Receiver.loopbackGuard),
    Layer.provide(
      Layer.succeed(
        DeliverySettings.DeliverySettings,
        DeliverySettings.make({ pollInterval: Duration.millis(100), onlyInstallations: mine, ...overrides })
      )
    )
  )

const install = (responseUrl: string) =>
  Effect.gen(function* () {
    const installations = yield* Installations.Installations
    const installation = yield* installations.create({
      bot: { _tag: "echo" },
      responseUrl,
      retrySchedule: [5, 10, 20, 40, 80]
    })
    mine.add(installation.id)
    return installation
  })

const textOf = (request: Receiver.ReceivedRequest) =>
  (JSON.parse(request.body) as { payload: { text: string } }).payload.text

const eventTypes = (conversationId: Ids.ConversationId) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const events = yield* Stream.runCollect(store.readStream(Ids.conversationStream(conversationId)))
    return events.map((event) => event.type)
  })

layer(Storage, { timeout: 120_000, excludeTestServices: true })(
  "Conversations (recovery and shutdown)",
  (it) => {
    it.effect("resumes, at start, every conversation with work appended while no actor ran", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const receiver = yield* Receiver.make()
        const installation = yield* install(receiver.url)
        const now = () => new Date().toISOString()

        // Three user messages whose bot turns never ran.
        const waiting = `conv-${randomUUID()}`
        const turns = ["a1", "a2", "a3"].map((text) => userMessage(installation, waiting, text))
        for (const command of turns) yield* write(store, command.conversationId, command)

        // A turn that completed with two messages; the first one's attempt failed and is due again.
        const outbox = `conv-${randomUUID()}`
        const received = userMessage(installation, outbox, "b")
        yield* write(store, received.conversationId, received)
        const messages = ["b1", "b2"].map((text, i) => ({
          messageId: replyIdFor(received.messageId, i),
          type: "text",
          payload: { text }
        }))
        yield* write(
          store,
          received.conversationId,
          new ConversationCommands.CompleteBotTurn({ userMessageId: received.messageId, messages, at: now() })
        )
        yield* write(
          store,
          received.conversationId,
          new ConversationCommands.RecordDeliveryAttempt({
            messageId: messages[0]!.messageId,
            outcome: { _tag: "Retry", status: 500, error: "HTTP 500", nextAttemptAt: now() },
            durationMs: 3,
            at: now()
          })
        )

        yield* receiver
          .waitFor((requests) => Receiver.firstAccepted(requests).length >= 5)
          .pipe(Effect.provide(actors()))

        const accepted = Receiver.firstAccepted(receiver.requests)
        const of = (conversation: string) =>
          accepted.filter((request) => JSON.parse(request.body).conversationId === conversation).map(textOf)
        assert.deepStrictEqual(of(waiting), ["a1", "a2", "a3"])
        assert.deepStrictEqual(of(outbox), ["b1", "b2"])
      })
    )

    it.effect("finds work appended after an event of the log it cannot read", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const receiver = yield* Receiver.make()
        const installation = yield* install(receiver.url)
        // A conversation stream whose event this version cannot decode, earlier in the log.
        const stray = Ids.conversationStream(randomUUID() as Ids.ConversationId)
        yield* store.append(stray, "no_stream", [
          { eventId: randomUUID(), type: "SomethingFromTheFuture", data: { hello: true } }
        ])
        const command = userMessage(installation, `conv-${randomUUID()}`, "after it")
        yield* write(store, command.conversationId, command)

        // Only the delivery projector's hint brings the turn back: it read past the stray event.
        yield* receiver
          .waitFor((requests) => Receiver.firstAccepted(requests).length >= 1)
          .pipe(Effect.provide(actors()))
        assert.deepStrictEqual(Receiver.firstAccepted(receiver.requests).map(textOf), ["after it"])
      })
    )

    it.effect("fails for good the turn of a conversation whose installation was deleted", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const installations = yield* Installations.Installations
        const receiver = yield* Receiver.make()
        const installation = yield* install(receiver.url)
        const command = userMessage(installation, `conv-${randomUUID()}`, "too late")
        yield* write(store, command.conversationId, command)
        yield* installations.delete(installation.id)

        const failed = yield* Effect.gen(function* () {
          const events = yield* Stream.runCollect(
            store.readStream(Ids.conversationStream(command.conversationId))
          )
          const decoded = yield* Effect.forEach(events, ConversationStream.fromRecorded)
          const failure = decoded.find((event) => event._tag === "BotTurnFailed")
          return failure === undefined ? yield* Effect.fail("not failed yet") : failure
        }).pipe(Effect.retry(Schedule.spaced("20 millis")), Effect.provide(actors()))

        assert.strictEqual(failed.reason, "the installation no longer exists")
        assert.isNull(failed.retryAt)
        assert.strictEqual(failed.userMessageId, command.messageId)
        assert.isFalse(Number.isNaN(Date.parse(failed.failedAt)))
        assert.isTrue(failed.failedAt >= command.at, "failed when the turn ran, after the message came")
        assert.strictEqual(receiver.requests.length, 0)
      })
    )

    it.effect("answers an inbound message while a delivery to a hanging endpoint is in flight", () =>
      Effect.gen(function* () {
        const receiver = yield* Receiver.make(({ index }) => (index === 0 ? "hang" : 200))
        const installation = yield* install(receiver.url)
        const conversation = `conv-${randomUUID()}`
        yield* Effect.gen(function* () {
          const conversations = yield* Conversations
          yield* conversations.receive(userMessage(installation, conversation, "first"))
          yield* receiver.waitFor((requests) => requests.length >= 1)
          const second = yield* conversations.receive(userMessage(installation, conversation, "second"))
          assert.isFalse(second.duplicate)
          assert.isTrue(receiver.isOpen(0), "the first attempt was still waiting on the endpoint")
        }).pipe(
          Effect.provide(actors({ requestTimeout: Duration.seconds(30), drainTimeout: Duration.millis(200) }))
        )
      })
    )

    it.effect(
      "on shutdown abandons an attempt in flight without recording it, and retries it after a restart",
      () =>
        Effect.gen(function* () {
          const receiver = yield* Receiver.make(({ index }) => (index === 0 ? "hang" : 200))
          const installation = yield* install(receiver.url)
          const command = userMessage(installation, `conv-${randomUUID()}`, "survives")
          const settings = { requestTimeout: Duration.seconds(30), drainTimeout: Duration.millis(200) }

          yield* Effect.gen(function* () {
            const conversations = yield* Conversations
            yield* conversations.receive(command)
            yield* receiver.waitFor((requests) => requests.length >= 1)
          }).pipe(Effect.provide(actors(settings)))
          // Closing the layer ended the attempt (the endpoint saw the connection close) and recorded nothing.
          assert.isFalse(receiver.isOpen(0))
          const types = yield* eventTypes(command.conversationId)
          assert.notInclude(types, "DeliveryAttemptFailed")

          const delivered = yield* Effect.gen(function* () {
            yield* receiver.waitFor((requests) => Receiver.firstAccepted(requests).length >= 1)
            return yield* eventTypes(command.conversationId).pipe(
              Effect.flatMap((types) =>
                types.includes("MessageDelivered") ? Effect.succeed(types) : Effect.fail("not recorded yet")
              ),
              Effect.retry(Schedule.spaced("20 millis"))
            )
          }).pipe(Effect.provide(actors(settings)))
          assert.deepStrictEqual(Receiver.firstAccepted(receiver.requests).map(textOf), ["survives"])
          assert.strictEqual(
            receiver.requests[0]!.headers["webhook-id"],
            receiver.requests[1]!.headers["webhook-id"]
          )
          assert.notInclude(delivered, "DeliveryAttemptFailed")
        })
    )
  }
)
