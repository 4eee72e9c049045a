import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { inject } from "vitest"
import { ConversationStarted, UserMessageReceived } from "../src/ConversationEvents.ts"
import { foldLog, load, toNewEvent } from "../src/ConversationStream.ts"
import * as Database from "../src/Database.ts"
import { EventStore } from "../src/EventStore.ts"
import {
  type ConversationId,
  conversationStream,
  type InstallationId,
  type MessageId,
  type UserId
} from "../src/Ids.ts"

const TestLayer = EventStore.layer.pipe(Layer.provideMerge(Database.layer({ url: inject("databaseUrl") })))

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("ConversationStream.foldLog", (it) => {
  it.effect("folds every conversation of the log to the state load gives for it", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const at = "2026-11-25T12:00:00.000Z"
      const ids = Array.from({ length: 3 }, () => randomUUID() as ConversationId)
      for (const [index, conversationId] of ids.entries()) {
        const events = [
          new ConversationStarted({
            conversationId,
            installationId: randomUUID() as InstallationId,
            externalConversationId: `c-${index}`,
            startedAt: at
          }),
          ...Array.from(
            { length: index + 1 },
            (_, m) =>
              new UserMessageReceived({
                messageId: randomUUID() as MessageId,
                externalMessageId: `m-${m}`,
                userId: randomUUID() as UserId,
                externalUserId: "u",
                type: "text",
                text: `hello ${m}`,
                payload: { text: `hello ${m}` },
                fingerprint: `f${m}`,
                receivedAt: at
              })
          )
        ]
        yield* store.append(
          conversationStream(conversationId),
          "no_stream",
          events.map((event) => toNewEvent(event, randomUUID()))
        )
      }
      // Another kind of stream in the same log is left out, and so is an event type from the future.
      yield* store.append(`other-${randomUUID()}`, "no_stream", [
        { eventId: randomUUID(), type: "Other", data: {} }
      ])
      const future = randomUUID() as ConversationId
      yield* store.append(conversationStream(future), "no_stream", [
        { eventId: randomUUID(), type: "SomethingFromTheFuture", data: {} }
      ])

      const folded = yield* foldLog(store, { batchSize: 2 })
      for (const [index, conversationId] of ids.entries()) {
        const loaded = yield* load(store, conversationId)
        const fromLog = folded.get(conversationStream(conversationId))
        assert.strictEqual(fromLog?.version, index + 2)
        assert.deepStrictEqual(fromLog, loaded)
      }
      assert.isFalse([...folded.keys()].some((stream) => stream.startsWith("other-")))
      assert.isFalse(folded.has(conversationStream(future)))
    })
  )
})
