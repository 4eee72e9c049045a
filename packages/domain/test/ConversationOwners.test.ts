import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { inject } from "vitest"
import { ConversationStarted, UserMessageReceived } from "../src/ConversationEvents.ts"
import { ConversationOwners } from "../src/ConversationOwners.ts"
import { toNewEvent } from "../src/ConversationStream.ts"
import * as Database from "../src/Database.ts"
import { EventStore } from "../src/EventStore.ts"
import {
  type ConversationId,
  conversationIdFor,
  conversationStream,
  type InstallationId,
  type MessageId,
  type UserId
} from "../src/Ids.ts"

const TestLayer = ConversationOwners.layer.pipe(
  Layer.provideMerge(EventStore.layer),
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 4 }))
)

const at = "2026-01-01T00:00:00.000Z"

/** A conversation started in `installationId`, with a message after the start. */
const start = (installationId: InstallationId, external = `conv-${randomUUID()}`) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const conversationId = conversationIdFor(installationId, external)
    yield* store.append(conversationStream(conversationId), "no_stream", [
      toNewEvent(
        new ConversationStarted({
          conversationId,
          installationId,
          externalConversationId: external,
          startedAt: at
        }),
        randomUUID()
      ),
      toNewEvent(
        new UserMessageReceived({
          messageId: randomUUID() as MessageId,
          externalMessageId: "m-1",
          userId: randomUUID() as UserId,
          externalUserId: "u-1",
          type: "text",
          text: "hello",
          payload: { text: "hello" },
          fingerprint: "f",
          receivedAt: at
        }),
        randomUUID()
      )
    ])
    return conversationId
  })

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("ConversationOwners", (it) => {
  it.effect("answers the installation a conversation started in, none for one that has not started", () =>
    Effect.gen(function* () {
      const owners = yield* ConversationOwners
      const mine = randomUUID() as InstallationId
      const theirs = randomUUID() as InstallationId
      const a = yield* start(mine)
      const b = yield* start(theirs)
      const unknown = randomUUID() as ConversationId

      // Nothing remembered before it is read; remembered once found (no read for it again).
      assert.isUndefined(owners.remembered(a))
      assert.deepStrictEqual(yield* owners.ownerOf(a), Option.some(mine))
      assert.strictEqual(owners.remembered(a), mine)
      // Asked again, from what it remembers: the same answer.
      assert.deepStrictEqual(yield* owners.ownerOf(a), Option.some(mine))
      assert.isTrue(Option.isNone(yield* owners.ownerOf(unknown)))
      assert.isUndefined(owners.remembered(unknown))

      const both = yield* owners.ownersOf([a, b, unknown])
      assert.deepStrictEqual(
        [...both].sort(([x], [y]) => x.localeCompare(y)),
        [
          [a, mine],
          [b, theirs]
        ].sort(([x], [y]) => x!.localeCompare(y!))
      )

      // A conversation unknown a moment ago is found once it starts (an absence is not remembered).
      const external = `conv-${randomUUID()}`
      assert.isTrue(Option.isNone(yield* owners.ownerOf(conversationIdFor(mine, external))))
      const later = yield* start(mine, external)
      assert.deepStrictEqual(yield* owners.ownerOf(later), Option.some(mine))
    })
  )
})
