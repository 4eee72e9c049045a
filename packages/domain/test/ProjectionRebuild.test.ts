import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Random, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import {
  CompleteBotTurn,
  type ConversationCommand,
  FailBotTurn,
  PostBotMessage,
  RequestRedelivery
} from "../src/ConversationCommands.ts"
import {
  type ConversationId,
  conversationIdFor,
  type InstallationId,
  type MessageId,
  newMessageId,
  userMessageIdFor
} from "../src/Ids.ts"
import { Projector } from "../src/Projector.ts"
import {
  assertAgreesWithFold,
  deadLettered,
  delivered,
  execute,
  executeOnce,
  newInstallation,
  projectedUpTo,
  receive,
  retried,
  TestLayer
} from "./ProjectionFixtures.ts"

const now = () => new Date().toISOString()

/** Every row of every read-model table that belongs to these installations, in key order. */
const snapshot = (installations: ReadonlyArray<InstallationId>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const conversations = yield* sql<{ row: unknown }>`
      SELECT to_jsonb(t) AS row FROM rm_conversations t WHERE installation_id IN ${sql.in(installations)}
      ORDER BY conversation_id
    `
    const messages = yield* sql<{ row: unknown }>`
      SELECT to_jsonb(t) AS row FROM rm_messages t WHERE installation_id IN ${sql.in(installations)}
      ORDER BY message_id
    `
    const attempts = yield* sql<{ row: unknown }>`
      SELECT to_jsonb(t) AS row FROM rm_delivery_attempts t WHERE installation_id IN ${sql.in(installations)}
      ORDER BY conversation_id, stream_version
    `
    return {
      conversations: conversations.map((r) => r.row),
      messages: messages.map((r) => r.row),
      attempts: attempts.map((r) => r.row)
    }
  })

/** Sometimes run a command inside a transaction held open a little: its events commit late. */
const write = (conversationId: ConversationId, command: ConversationCommand) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const hold = yield* Random.nextIntBetween(0, 12)
    if (hold < 8) return yield* execute(conversationId, command)
    // A lost race aborts the transaction (the append's conflict check then fails too): start it again.
    return yield* executeOnce(conversationId, command).pipe(
      Effect.tap(() => Effect.sleep(`${hold} millis`)),
      sql.withTransaction,
      Effect.retry({ schedule: Schedule.spaced("1 millis"), times: 50 })
    )
  })

/** Delivers a conversation's bot messages in order, each with its own fate. */
const deliverAll = (conversationId: ConversationId, messageIds: ReadonlyArray<MessageId>, seed: number) =>
  Effect.forEach(messageIds, (messageId, j) =>
    Effect.gen(function* () {
      switch ((seed + j) % 4) {
        case 0:
          yield* write(conversationId, delivered(messageId))
          return
        case 1:
          yield* write(conversationId, retried(messageId, "HTTP 502"))
          yield* write(conversationId, delivered(messageId))
          return
        case 2:
          yield* write(conversationId, deadLettered(messageId))
          return
        default:
          yield* write(conversationId, retried(messageId, "timeout"))
          yield* write(conversationId, retried(messageId, "HTTP 500"))
          yield* write(conversationId, deadLettered(messageId))
          yield* write(conversationId, new RequestRedelivery({ messageId, at: now() }))
          yield* write(conversationId, delivered(messageId))
      }
    })
  )

/** One conversation's busy life; two writers work on it at once for a while. */
const conversationScript = (installation: InstallationId, k: number) =>
  Effect.gen(function* () {
    const external = `busy-${k}`
    const conversationId = conversationIdFor(installation, external)
    yield* write(
      conversationId,
      receive(installation, external, `${external}-m-1`, `hello ${k}`, now(), `user-${k % 3}`)
    )
    const replies = Array.from({ length: 1 + (k % 3) }, () => newMessageId())
    yield* write(
      conversationId,
      new CompleteBotTurn({
        userMessageId: userMessageIdFor(installation, `${external}-m-1`),
        messages: replies.map((messageId, i) => ({
          messageId,
          type: i === 1 ? "card" : "text",
          payload: i === 1 ? { title: `card ${k}`, actions: [] } : { text: `reply ${k}.${i}` }
        })),
        at: now()
      })
    )
    const secondTurn = Effect.gen(function* () {
      yield* write(
        conversationId,
        receive(installation, external, `${external}-m-2`, `again ${k}`, now(), `user-${k % 2}`)
      )
      const userMessageId = userMessageIdFor(installation, `${external}-m-2`)
      if (k % 2 === 0) {
        yield* write(
          conversationId,
          new FailBotTurn({ userMessageId, reason: "bot down", retryAt: now(), at: now() })
        )
        yield* write(
          conversationId,
          new CompleteBotTurn({
            userMessageId,
            messages: [{ messageId: newMessageId(), type: "text", payload: { text: "late" } }],
            at: now()
          })
        )
      } else {
        yield* write(
          conversationId,
          new FailBotTurn({ userMessageId, reason: "bot gone", retryAt: null, at: now() })
        )
      }
      if (k % 5 === 0) {
        const message = { messageId: newMessageId(), type: "text", payload: { text: "unprompted" } }
        yield* write(conversationId, new PostBotMessage({ message, at: now() }))
      }
    })
    yield* Effect.all([deliverAll(conversationId, replies, k), secondTurn], { concurrency: 2 })
    return conversationId
  })

layer(TestLayer, { timeout: 120_000, excludeTestServices: true })("Read-model rebuild", (it) => {
  it.effect("rebuilding after a busy run gives back every row of every read-model table", () =>
    Effect.gen(function* () {
      const projector = yield* Projector
      const installations = [newInstallation(), newInstallation(), newInstallation()]
      const follower = yield* Effect.forkChild(projector.follow)

      const conversationIds = yield* Effect.forEach(
        Array.from({ length: 60 }, (_, k) => k),
        (k) => conversationScript(installations[k % installations.length]!, k),
        { concurrency: 10 }
      )
      yield* projectedUpTo(conversationIds)
      yield* Fiber.interrupt(follower)

      const before = yield* snapshot(installations)
      assert.strictEqual(before.conversations.length, 60)
      // 2 user messages and 1 to 3 replies each, a late reply for even ones, an unprompted one for every fifth.
      assert.strictEqual(before.messages.length, 60 * 2 + 120 + 30 + 12)
      assert.isAbove(before.attempts.length, 60)
      for (const conversationId of conversationIds) yield* assertAgreesWithFold(conversationId)

      const counts = yield* projector.rebuild
      assert.isAtLeast(counts.conversations, 60)
      yield* projectedUpTo(conversationIds)
      const after = yield* snapshot(installations)
      assert.deepStrictEqual(after.conversations, before.conversations)
      assert.deepStrictEqual(after.messages, before.messages)
      assert.deepStrictEqual(after.attempts, before.attempts)

      // Again in pages of 7 events: the rebuild's pass in stream order splits conversations
      // between pages, each page bringing them on from where the one before left them.
      yield* Effect.gen(function* () {
        const paging = yield* Projector
        yield* paging.rebuild
      }).pipe(Effect.provide(Projector.layerWith({ rebuildPageSize: 7 })))
      const paged = yield* snapshot(installations)
      assert.deepStrictEqual(paged.conversations, before.conversations)
      assert.deepStrictEqual(paged.messages, before.messages)
      assert.deepStrictEqual(paged.attempts, before.attempts)
    })
  )

  it.effect("a rebuild leaves the checkpoint where the log is, and catching up again finds nothing", () =>
    Effect.gen(function* () {
      const projector = yield* Projector
      const installation = newInstallation()
      const conversationId = conversationIdFor(installation, "after-rebuild")
      yield* execute(conversationId, receive(installation, "after-rebuild", "m-1", "hi"))
      const counts = yield* projector.rebuild
      yield* projectedUpTo([conversationId])
      const checkpoint = yield* projector.checkpoint
      assert.isAtLeast(checkpoint.position, counts.checkpoint.position)
      assert.isAtLeast(counts.messages, 1)
    })
  )
})
