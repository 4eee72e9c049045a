import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Effect, HashMap, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { CompleteBotTurn, FailBotTurn, RequestRedelivery } from "../src/ConversationCommands.ts"
import { ConversationStarted, UserMessageReceived } from "../src/ConversationEvents.ts"
import { ConversationHistory } from "../src/ConversationHistory.ts"
import { toNewEvent } from "../src/ConversationStream.ts"
import { EventStore } from "../src/EventStore.ts"
import {
  type ConversationId,
  conversationIdFor,
  conversationStream,
  InstallationId,
  type MessageId,
  newMessageId,
  type UserId,
  userMessageIdFor
} from "../src/Ids.ts"
import { encodeVersion } from "../src/PageCursor.ts"
import { projectConversation } from "../src/ReadModelProjection.ts"
import {
  deadLettered,
  delivered,
  execute,
  newInstallation,
  projectedUpTo,
  receive,
  retried,
  TestLayer
} from "./ProjectionFixtures.ts"

const rowsOf = (conversationId: ConversationId) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const conversation = yield* sql<{ row: unknown }>`
      SELECT to_jsonb(t) AS row FROM rm_conversations t WHERE conversation_id = ${conversationId}::uuid
    `
    const messages = yield* sql<{ row: unknown }>`
      SELECT to_jsonb(t) AS row FROM rm_messages t WHERE conversation_id = ${conversationId}::uuid
      ORDER BY stream_version
    `
    const attempts = yield* sql<{ row: unknown }>`
      SELECT to_jsonb(t) AS row FROM rm_delivery_attempts t WHERE conversation_id = ${conversationId}::uuid
      ORDER BY stream_version
    `
    return [conversation, messages, attempts].map((rows) => rows.map((r) => r.row))
  })

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("Read-model projection", (it) => {
  it.effect("projects a conversation, its messages with their delivery status, and every attempt", () =>
    Effect.gen(function* () {
      const history = yield* ConversationHistory
      const installation = newInstallation()
      const conversationId = conversationIdFor(installation, "c-1")
      yield* execute(conversationId, receive(installation, "c-1", "m-1", "hello"))
      const first = newMessageId()
      const second = newMessageId()
      yield* execute(
        conversationId,
        new CompleteBotTurn({
          userMessageId: userMessageIdFor(installation, "m-1"),
          messages: [
            { messageId: first, type: "text", payload: { text: "one" } },
            { messageId: second, type: "image", payload: { imageUrl: "https://example.com/x.png" } }
          ],
          at: new Date().toISOString()
        })
      )
      yield* execute(conversationId, retried(first, "HTTP 503"))
      yield* execute(conversationId, delivered(first))
      yield* execute(conversationId, deadLettered(second))
      yield* execute(
        conversationId,
        new RequestRedelivery({ messageId: second, at: new Date().toISOString() })
      )
      yield* execute(conversationId, delivered(second))
      yield* execute(conversationId, receive(installation, "c-1", "m-2", "anyone?", undefined, "user-2"))
      const last = yield* execute(
        conversationId,
        new FailBotTurn({
          userMessageId: userMessageIdFor(installation, "m-2"),
          reason: "bot down",
          retryAt: null,
          at: new Date().toISOString()
        })
      )
      yield* projectedUpTo([conversationId])

      const conversation = yield* history.getConversation(conversationId, [installation])
      assert.strictEqual(conversation.externalConversationId, "c-1")
      assert.strictEqual(conversation.version, last.version)
      assert.deepStrictEqual(
        [
          conversation.userMessageCount,
          conversation.botMessageCount,
          conversation.openTurnCount,
          conversation.pendingCount,
          conversation.deliveredCount,
          conversation.deadLetteredCount
        ],
        [2, 2, 0, 0, 2, 0]
      )

      const messages = yield* history.listMessages(conversationId, { installationIds: [installation] })
      assert.isNull(messages.nextCursor)
      assert.deepStrictEqual(
        messages.items.map((message) => [
          message.direction,
          message.externalMessageId,
          message.text,
          message.turn?.status ?? message.delivery?.status
        ]),
        [
          ["user", "m-1", "hello", "completed"],
          ["bot", null, "one", "delivered"],
          ["bot", null, null, "delivered"],
          ["user", "m-2", "anyone?", "failed"]
        ]
      )
      const [, one, two] = messages.items
      assert.strictEqual(one?.delivery?.attempts, 2)
      assert.strictEqual(one?.inReplyTo, userMessageIdFor(installation, "m-1"))
      assert.strictEqual(one?.userId, messages.items[0]?.userId)
      assert.strictEqual(two?.delivery?.redeliveries, 1)
      assert.strictEqual(two?.delivery?.attempts, 1)
      assert.deepStrictEqual(two?.payload, { imageUrl: "https://example.com/x.png" })

      const attempts = yield* history.listDeliveryAttempts(conversationId, {
        installationIds: [installation]
      })
      assert.deepStrictEqual(
        attempts.items.map((attempt) => [
          attempt.messageId,
          attempt.attempt,
          attempt.outcome,
          attempt.status
        ]),
        [
          [first, 1, "failed", 503],
          [first, 2, "delivered", 200],
          [second, 1, "dead_lettered", 404],
          [second, 1, "delivered", 200]
        ]
      )
      const ofSecond = yield* history.listDeliveryAttempts(conversationId, {
        installationIds: "all",
        messageId: second
      })
      assert.deepStrictEqual(
        ofSecond.items.map((attempt) => attempt.outcome),
        ["dead_lettered", "delivered"]
      )

      // The rows agree with the state folded from the stream.
      for (const [id, message] of HashMap.toEntries(last.state.botMessages)) {
        const row = yield* history.getMessage(id, [installation])
        assert.strictEqual(row.delivery?.status, message.status)
        assert.strictEqual(row.delivery?.attempts, message.attempts)
        assert.strictEqual(row.delivery?.lastError, message.lastError)
        assert.strictEqual(row.userId, message.userId)
      }
    })
  )

  it.effect("applying a conversation's events again over its rows changes nothing", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore
      const installation = newInstallation()
      const conversationId = conversationIdFor(installation, "again")
      yield* execute(conversationId, receive(installation, "again", "m-1", "hi"))
      const reply = newMessageId()
      yield* execute(
        conversationId,
        new CompleteBotTurn({
          userMessageId: userMessageIdFor(installation, "m-1"),
          messages: [{ messageId: reply, type: "text", payload: { text: "hey" } }],
          at: new Date().toISOString()
        })
      )
      yield* execute(conversationId, deadLettered(reply))
      const done = yield* execute(
        conversationId,
        new RequestRedelivery({ messageId: reply, at: "2026-01-01T00:00:00.000Z" })
      )
      yield* projectedUpTo([conversationId])
      const before = yield* rowsOf(conversationId)

      // As if the batch's transaction had committed its rows but the version had not moved: replay all.
      yield* sql`UPDATE rm_conversations SET version = 0 WHERE conversation_id = ${conversationId}::uuid`
      yield* projectConversation(sql.withoutTransforms(), store, conversationId, done.version, []).pipe(
        sql.withTransaction
      )
      assert.deepStrictEqual(yield* rowsOf(conversationId), before)
    })
  )

  it.effect("skips events it does not know and ignores streams that are not conversations", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const history = yield* ConversationHistory
      const installation = newInstallation()
      const conversationId = randomUUID() as ConversationId
      const at = "2026-11-25T12:00:00.000Z"
      yield* store.append(conversationStream(conversationId), "no_stream", [
        toNewEvent(
          new ConversationStarted({
            conversationId,
            installationId: installation,
            externalConversationId: "x",
            startedAt: at
          }),
          randomUUID()
        ),
        { eventId: randomUUID(), type: "SomethingFromTheFuture", data: { hello: true } },
        toNewEvent(
          new UserMessageReceived({
            messageId: randomUUID() as MessageId,
            externalMessageId: "m-1",
            userId: randomUUID() as UserId,
            externalUserId: "u-1",
            type: "text",
            text: "still here",
            payload: { text: "still here" },
            fingerprint: "f",
            receivedAt: at
          }),
          randomUUID()
        )
      ])
      yield* store.append(`other-${randomUUID()}`, "no_stream", [
        { eventId: randomUUID(), type: "UserMessageReceived", data: { not: "a conversation" } }
      ])
      yield* projectedUpTo([conversationId])
      const conversation = yield* history.getConversation(conversationId, "all")
      assert.strictEqual(conversation.version, 3)
      assert.strictEqual(conversation.userMessageCount, 1)
      assert.strictEqual(conversation.lastActivityAt, at)
    })
  )

  it.effect("pages through conversations, messages, attempts and events without duplicates or gaps", () =>
    Effect.gen(function* () {
      const history = yield* ConversationHistory
      const installation = newInstallation()
      const ids: Array<ConversationId> = []
      for (let i = 0; i < 7; i++) {
        const external = `page-${i}`
        ids.push(conversationIdFor(installation, external))
        // Two share a start time: the id breaks the tie.
        const at = new Date(Date.UTC(2026, 10, 25, 12, 0, i === 3 ? 2 : i)).toISOString()
        yield* execute(ids[i]!, receive(installation, external, `m-${i}`, `hello ${i}`, at))
      }
      yield* projectedUpTo(ids)

      const seen: Array<string> = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = yield* history.listConversations({ installationIds: [installation], cursor, limit: 3 })
        seen.push(...page.items.map((conversation) => conversation.id))
        if (pages === 0) {
          // A conversation started while paging is newer than the cursor: it does not shift later pages.
          const late = conversationIdFor(installation, "late")
          yield* execute(late, receive(installation, "late", "m-late", "late", "2026-11-25T13:00:00.000Z"))
          yield* projectedUpTo([late])
        }
        cursor = page.nextCursor ?? undefined
        pages++
      } while (cursor !== undefined)
      assert.strictEqual(pages, 3)
      assert.strictEqual(seen.length, 7)
      assert.deepStrictEqual([...seen].sort(), [...ids].sort())
      const all = yield* history.listConversations({ installationIds: [installation], limit: 200 })
      assert.deepStrictEqual(
        all.items.slice(1).map((conversation) => conversation.id),
        seen,
        "newest first, the late one on top"
      )
      const startTimes = all.items.map((conversation) => conversation.startedAt)
      assert.deepStrictEqual(startTimes, [...startTimes].sort().reverse())

      // Messages and attempts of one busy conversation, two at a time.
      const busy = ids[0]!
      for (let i = 1; i <= 4; i++) {
        const reply = newMessageId()
        yield* execute(busy, receive(installation, "page-0", `more-${i}`, `more ${i}`))
        yield* execute(
          busy,
          new CompleteBotTurn({
            userMessageId: userMessageIdFor(installation, `more-${i}`),
            messages: [{ messageId: reply, type: "text", payload: { text: `reply ${i}` } }],
            at: new Date().toISOString()
          })
        )
        yield* execute(busy, retried(reply, "busy"))
        yield* execute(busy, delivered(reply))
      }
      yield* projectedUpTo([busy])
      const collect = <A>(
        read: (
          cursor: string | undefined
        ) => Effect.Effect<{ items: ReadonlyArray<A>; nextCursor: string | null }, unknown>
      ) =>
        Effect.gen(function* () {
          const items: Array<A> = []
          let next: string | undefined
          do {
            const page = yield* read(next)
            assert.isAtMost(page.items.length, 2)
            items.push(...page.items)
            next = page.nextCursor ?? undefined
          } while (next !== undefined)
          return items
        })
      const messages = yield* collect((cursor) =>
        history.listMessages(busy, { installationIds: [installation], cursor, limit: 2 })
      )
      const everyMessage = yield* history.listMessages(busy, { installationIds: [installation], limit: 200 })
      assert.strictEqual(messages.length, 9)
      assert.deepStrictEqual(messages, everyMessage.items)
      const positions = messages.map((message) => message.position)
      assert.deepStrictEqual(
        positions,
        [...positions].sort((a, b) => a - b)
      )

      const attempts = yield* collect((cursor) =>
        history.listDeliveryAttempts(busy, { installationIds: [installation], cursor, limit: 2 })
      )
      assert.deepStrictEqual(
        attempts.map((attempt) => attempt.outcome),
        ["failed", "delivered", "failed", "delivered", "failed", "delivered", "failed", "delivered"]
      )

      const events = yield* collect((cursor) =>
        history.readEvents(busy, { installationIds: [installation], cursor, limit: 2 })
      )
      assert.deepStrictEqual(
        events.map((event) => event.version),
        Array.from({ length: events.length }, (_, i) => i + 1)
      )
      assert.strictEqual(events[0]?.type, "ConversationStarted")
      const fromFive = yield* history.readEvents(busy, { installationIds: "all", fromVersion: 5, limit: 3 })
      assert.deepStrictEqual(
        fromFive.items.map((event) => event.version),
        [5, 6, 7]
      )
    })
  )

  it.effect("refuses cursors it did not hand out", () =>
    Effect.gen(function* () {
      const history = yield* ConversationHistory
      const installation = newInstallation()
      const conversationId = conversationIdFor(installation, "cursors")
      yield* execute(conversationId, receive(installation, "cursors", "m-1", "hi"))
      yield* projectedUpTo([conversationId])
      const scope = { installationIds: [installation] }
      const base64 = (text: string) => Buffer.from(text).toString("base64url")
      const bad = [
        "",
        "not a cursor!",
        base64("not json"),
        base64(JSON.stringify({ k: "conversations", t: "yesterday", id: randomUUID() })),
        base64(JSON.stringify({ k: "conversations", t: "2026-11-25T12:00:00.000Z", id: "x'; DROP TABLE x" })),
        encodeVersion("messages", 3),
        "A".repeat(2000)
      ]
      for (const cursor of bad) {
        const error = yield* Effect.flip(history.listConversations({ ...scope, cursor }))
        assert.strictEqual(error._tag, "InvalidCursor", `cursor ${JSON.stringify(cursor.slice(0, 40))}`)
      }
      const wrongList = yield* Effect.flip(
        history.listMessages(conversationId, { ...scope, cursor: encodeVersion("events", 1) })
      )
      assert.strictEqual(wrongList._tag, "InvalidCursor")
      const negative = yield* Effect.flip(
        history.readEvents(conversationId, {
          ...scope,
          cursor: base64(JSON.stringify({ k: "events", v: -1 }))
        })
      )
      assert.strictEqual(negative._tag, "InvalidCursor")
      const attempts = yield* Effect.flip(
        history.listDeliveryAttempts(conversationId, { ...scope, cursor: base64("{}") })
      )
      assert.strictEqual(attempts._tag, "InvalidCursor")
    })
  )

  it.effect("never shows one installation's conversations to a reader of another", () =>
    Effect.gen(function* () {
      const history = yield* ConversationHistory
      const mine = newInstallation()
      const theirs = newInstallation()
      const myConversation = conversationIdFor(mine, "shared-external-id")
      const theirConversation = conversationIdFor(theirs, "shared-external-id")
      yield* execute(myConversation, receive(mine, "shared-external-id", "m-1", "mine"))
      yield* execute(theirConversation, receive(theirs, "shared-external-id", "m-1", "theirs"))
      const theirReply = newMessageId()
      yield* execute(
        theirConversation,
        new CompleteBotTurn({
          userMessageId: userMessageIdFor(theirs, "m-1"),
          messages: [{ messageId: theirReply, type: "text", payload: { text: "secret" } }],
          at: new Date().toISOString()
        })
      )
      yield* projectedUpTo([myConversation, theirConversation])

      const listed = yield* history.listConversations({ installationIds: [mine] })
      assert.deepStrictEqual(
        listed.items.map((conversation) => conversation.id),
        [myConversation]
      )
      // An id from outside is lower-cased once, when it is decoded.
      const theirsFromOutside = Schema.decodeUnknownSync(InstallationId)(theirs.toUpperCase())
      const both = yield* history.listConversations({ installationIds: [mine, theirsFromOutside] })
      assert.strictEqual(both.items.length, 2)
      assert.deepStrictEqual((yield* history.listConversations({ installationIds: [] })).items, [])

      const scope = [mine]
      const notFound = [
        yield* Effect.flip(history.getConversation(theirConversation, scope)),
        yield* Effect.flip(history.listMessages(theirConversation, { installationIds: scope })),
        yield* Effect.flip(history.listDeliveryAttempts(theirConversation, { installationIds: scope })),
        yield* Effect.flip(history.readEvents(theirConversation, { installationIds: scope })),
        yield* Effect.flip(history.getConversation(randomUUID(), "all")),
        yield* Effect.flip(history.getConversation("not-a-uuid", "all")),
        yield* Effect.flip(history.readEvents(randomUUID(), { installationIds: "all" })),
        yield* Effect.flip(history.readEvents("../etc", { installationIds: "all" }))
      ]
      for (const error of notFound) assert.strictEqual(error._tag, "ConversationNotFound")
      const message = yield* Effect.flip(history.getMessage(theirReply, scope))
      assert.strictEqual(message._tag, "MessageNotFound")
      const elsewhere = yield* Effect.flip(
        history.listDeliveryAttempts(myConversation, { installationIds: "all", messageId: theirReply })
      )
      assert.strictEqual(elsewhere._tag, "MessageNotFound")
      assert.strictEqual((yield* history.getMessage(theirReply, [theirs])).text, "secret")
    })
  )
})
