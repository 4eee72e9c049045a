import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import {
  ConversationCommands,
  ConversationStream,
  Database,
  DecisionState,
  EventStore,
  Ids,
  Installations
} from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import { Effect, Layer, Metric } from "effect"
import { inject } from "vitest"
import * as ConversationsEngine from "../src/Conversations.ts"
import { assumedEmpty, type LoadState, versionConflicts, write } from "../src/ConversationWriter.ts"
import { userMessage } from "./UserMessages.ts"

const Storage = Layer.mergeAll(EventStore.EventStore.layer, Installations.Installations.layer).pipe(
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 4 }))
)

// The front door without actors: what the CLI uses. Nothing runs in the background.
const TestLayer = ConversationsEngine.layerDirect.pipe(Layer.provideMerge(Storage))

const install = Effect.gen(function* () {
  const installations = yield* Installations.Installations
  return yield* installations.create({ bot: { _tag: "echo" }, responseUrl: null, retrySchedule: [5] })
})

/** A new conversation with one message written, and the version conflicts counted so far. */
const conversationWithOneMessage = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  const installation = yield* install
  const conversation = `conv-${randomUUID()}`
  const first = userMessage(installation, conversation, "one")
  yield* write(store, first.conversationId, first)
  const conflictsBefore = (yield* Metric.value(versionConflicts)).count
  return { store, installation, conversation, conflictsBefore }
})

/** The same message id (and so the same event id) aimed at another conversation of the installation. */
const elsewhere = (command: ConversationCommands.ReceiveUserMessage, fingerprint = command.fingerprint) => {
  const conversation = `conv-${randomUUID()}`
  return new ConversationCommands.ReceiveUserMessage({
    ...command,
    conversationId: Ids.conversationIdFor(command.installationId, conversation),
    externalConversationId: conversation,
    fingerprint
  })
}

/**
 * A writer's load that assumes every conversation new (as `KnownConversations` does for one it has
 * never seen) unless asked for the log's state; `reads` records which each call was.
 */
const assumingNew = (store: EventStore.EventStore["Service"]) => {
  const reads: Array<"assumed" | "log"> = []
  const assuming: LoadState = (id, options) => {
    reads.push(options?.fromLog === true ? "log" : "assumed")
    return options?.fromLog === true
      ? ConversationStream.loadDecisionState(store, id)
      : Effect.succeed(assumedEmpty)
  }
  return { assuming, reads }
}

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("ConversationWriter", (it) => {
  it.effect(
    "answers a user message the log holds elsewhere as the decider answers a repeat, naming the original's conversation",
    () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const installation = yield* install
        const first = userMessage(installation, `conv-${randomUUID()}`, "hello")
        const written = yield* write(store, first.conversationId, first)
        assert.deepStrictEqual(
          written.events.map((event) => event._tag),
          ["ConversationStarted", "UserMessageReceived"]
        )

        // The other conversation's decision state knows nothing of it: the log's unique event id
        // refuses the append, and the writer reads the original back.
        const same = elsewhere(first)
        const duplicate = yield* Effect.flip(write(store, same.conversationId, same))
        assert.strictEqual(duplicate._tag, "DuplicateUserMessage")
        assert.deepStrictEqual(duplicate._tag === "DuplicateUserMessage" ? duplicate.original : undefined, {
          messageId: first.messageId,
          userId: first.userId,
          conversationId: first.conversationId
        })

        const other = elsewhere(first, "another body")
        const reused = yield* Effect.flip(write(store, other.conversationId, other))
        assert.strictEqual(reused._tag, "MessageIdReused")

        // Nothing was appended to either stream.
        assert.strictEqual(yield* store.streamVersion(Ids.conversationStream(same.conversationId)), 0)
        assert.strictEqual(yield* store.streamVersion(Ids.conversationStream(other.conversationId)), 0)
        assert.strictEqual(yield* store.streamVersion(Ids.conversationStream(first.conversationId)), 2)
      })
  )

  it.effect(
    "lets the front door without actors answer such a repeat as a duplicate, or 409's MessageIdReused",
    () =>
      Effect.gen(function* () {
        const conversations = yield* Conversations
        const installation = yield* install
        const first = userMessage(installation, `conv-${randomUUID()}`, "hi")
        assert.isFalse((yield* conversations.receive(first)).duplicate)
        assert.deepStrictEqual(yield* conversations.receive(elsewhere(first)), {
          messageId: first.messageId,
          userId: first.userId,
          conversationId: first.conversationId,
          duplicate: true
        })
        const reused = yield* Effect.flip(conversations.receive(elsewhere(first, "another body")))
        assert.strictEqual(reused._tag, "MessageIdReused")
      })
  )
  it.effect("a stale state meets the version check, is read again, and the command is decided anew", () =>
    Effect.gen(function* () {
      const { store, installation, conversation, conflictsBefore } = yield* conversationWithOneMessage
      // A writer that still holds the state from before the first message (version 0).
      const stale = { current: { state: DecisionState.initialState, version: 0 } }
      const second = userMessage(installation, conversation, "two")
      const written = yield* write(store, second.conversationId, second, stale)
      assert.deepStrictEqual(
        written.events.map((event) => event._tag),
        ["UserMessageReceived"]
      )
      assert.strictEqual(written.version, 3)
      assert.strictEqual((yield* Metric.value(versionConflicts)).count - conflictsBefore, 1)
    })
  )

  it.effect("a state that stays stale gives up after the retries: the conversation is unavailable", () =>
    Effect.gen(function* () {
      const { store, installation, conversation, conflictsBefore } = yield* conversationWithOneMessage
      // Every read gives the state from before the first message, as if other writers kept winning.
      const alwaysStale = () => Effect.succeed({ state: DecisionState.initialState, version: 0 })
      const second = userMessage(installation, conversation, "two")
      const refused = yield* Effect.flip(
        write(store, second.conversationId, second, { current: undefined }, alwaysStale)
      )
      assert.strictEqual(refused._tag, "ConversationUnavailable")
      assert.strictEqual((yield* Metric.value(versionConflicts)).count - conflictsBefore, 21)
      assert.strictEqual(yield* store.streamVersion(Ids.conversationStream(second.conversationId)), 2)
    })
  )

  it.effect("a new conversation's state is assumed, not read: its append at version 0 checks it", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const installation = yield* install
      const first = userMessage(installation, `conv-${randomUUID()}`, "one")
      const { assuming, reads } = assumingNew(store)
      const written = yield* write(store, first.conversationId, first, { current: undefined }, assuming)
      assert.deepStrictEqual(
        written.events.map((event) => event._tag),
        ["ConversationStarted", "UserMessageReceived"]
      )
      assert.strictEqual(written.version, 2)
      // Assumed once, never read.
      assert.deepStrictEqual(reads, ["assumed"])
    })
  )

  it.effect("a wrong assumption meets the version check and the log is read, with no conflict counted", () =>
    Effect.gen(function* () {
      const { store, installation, conversation, conflictsBefore } = yield* conversationWithOneMessage
      const { assuming, reads } = assumingNew(store)
      const second = userMessage(installation, conversation, "two")
      const written = yield* write(store, second.conversationId, second, { current: undefined }, assuming)
      assert.deepStrictEqual(
        written.events.map((event) => event._tag),
        ["UserMessageReceived"]
      )
      assert.strictEqual(written.version, 3)
      assert.deepStrictEqual(reads, ["assumed", "log"])
      assert.strictEqual((yield* Metric.value(versionConflicts)).count - conflictsBefore, 0)
    })
  )

  it.effect("an answer without an append is never given on an assumed state", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const installation = yield* install
      const conversation = `conv-${randomUUID()}`
      const first = userMessage(installation, conversation, "one")
      yield* write(store, first.conversationId, first)
      const { assuming } = assumingNew(store)
      // On the empty state a bot message is refused (the conversation has not started); it has.
      const post = new ConversationCommands.PostBotMessage({
        message: {
          messageId: Ids.uuidV5("test-bot-message", randomUUID()) as Ids.MessageId,
          type: "text",
          payload: { text: "hi" }
        },
        at: new Date().toISOString()
      })
      const written = yield* write(store, first.conversationId, post, { current: undefined }, assuming)
      assert.deepStrictEqual(
        written.events.map((event) => event._tag),
        ["BotMessageEmitted"]
      )
      assert.strictEqual(written.version, 3)
      // The first message again: answered from the state read (a duplicate), not appended anew.
      const again = yield* Effect.flip(
        write(store, first.conversationId, first, { current: undefined }, assuming)
      )
      assert.strictEqual(again._tag, "DuplicateUserMessage")
      assert.strictEqual(yield* store.streamVersion(Ids.conversationStream(first.conversationId)), 3)
    })
  )
})
