import { createHash, randomUUID } from "node:crypto"
import { Effect, HashMap, Layer, Result, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { type ConversationState, fold } from "../src/Conversation.ts"
import {
  type ConversationCommand,
  ReceiveUserMessage,
  RecordDeliveryAttempt
} from "../src/ConversationCommands.ts"
import { decide } from "../src/ConversationDecider.ts"
import type { ConversationEvent } from "../src/ConversationEvents.ts"
import { ConversationHistory } from "../src/ConversationHistory.ts"
import { load, loadDecisionState, toNewEvent } from "../src/ConversationStream.ts"
import * as Database from "../src/Database.ts"
import { EventStore } from "../src/EventStore.ts"
import {
  type ConversationId,
  conversationIdFor,
  conversationStream,
  type InstallationId,
  type MessageId,
  userIdFor,
  userMessageIdFor
} from "../src/Ids.ts"
import { Projector } from "../src/Projector.ts"

/**
 * What the read-model and replay tests share: a database with the event store, the projector and
 * the read service, and a small writer that runs commands as load → decide → append, as the
 * delivery package's front door does (domain tests may not import it).
 */

export const TestLayer = Layer.mergeAll(Projector.layer, ConversationHistory.layer).pipe(
  Layer.provideMerge(EventStore.layer),
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 12 }))
)

export const newInstallation = (): InstallationId => randomUUID() as InstallationId

export interface Executed {
  readonly events: ReadonlyArray<ConversationEvent>
  readonly state: ConversationState
  readonly version: number
}

/** Runs one command on the stored conversation, once; a rejection appends nothing. */
export const executeOnce = (conversationId: ConversationId, command: ConversationCommand) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const loaded = yield* load(store, conversationId)
    const decision = decide(command, (yield* loadDecisionState(store, conversationId)).state)
    if (Result.isFailure(decision) || decision.success.length === 0) {
      return { events: [], state: loaded.state, version: loaded.version } satisfies Executed
    }
    const appended = yield* store.append(
      conversationStream(conversationId),
      loaded.version,
      decision.success.map((event) => toNewEvent(event, randomUUID()))
    )
    return {
      events: decision.success,
      state: fold(decision.success, loaded.state),
      version: appended.version
    } satisfies Executed
  })

/** Runs one command, deciding again when another writer appended first. */
export const execute = (conversationId: ConversationId, command: ConversationCommand) =>
  executeOnce(conversationId, command).pipe(
    Effect.retry({
      while: (error) => error._tag === "WrongExpectedVersion",
      schedule: Schedule.spaced("1 millis"),
      times: 50
    })
  )

export const receive = (
  installationId: InstallationId,
  externalConversationId: string,
  externalMessageId: string,
  text: string,
  at: string = new Date().toISOString(),
  externalUserId = "user-1"
) =>
  new ReceiveUserMessage({
    conversationId: conversationIdFor(installationId, externalConversationId),
    installationId,
    externalConversationId,
    messageId: userMessageIdFor(installationId, externalMessageId),
    externalMessageId,
    userId: userIdFor(installationId, externalUserId),
    externalUserId,
    type: "text",
    text,
    payload: { text },
    fingerprint: createHash("sha256").update(text).digest("hex"),
    at
  })

export const delivered = (messageId: MessageId, at: string = new Date().toISOString()) =>
  new RecordDeliveryAttempt({ messageId, outcome: { _tag: "Delivered", status: 200 }, durationMs: 12, at })

export const retried = (messageId: MessageId, error: string, at: string = new Date().toISOString()) =>
  new RecordDeliveryAttempt({
    messageId,
    outcome: { _tag: "Retry", status: 503, error, nextAttemptAt: at },
    durationMs: 7.5,
    at
  })

export const deadLettered = (messageId: MessageId, at: string = new Date().toISOString()) =>
  new RecordDeliveryAttempt({
    messageId,
    outcome: { _tag: "DeadLetter", status: 404, reason: "HTTP 404" },
    durationMs: 3,
    at
  })

/**
 * Catches up until the read models hold every event of these conversations. One catch-up may stop
 * short: it reads only below the xid horizon, which another test's open transaction holds back.
 */
export const projectedUpTo = (conversationIds: ReadonlyArray<ConversationId>) =>
  Effect.gen(function* () {
    const projector = yield* Projector
    const store = yield* EventStore
    const sql = yield* SqlClient.SqlClient
    const expected = yield* Effect.forEach(conversationIds, (id) =>
      store.streamVersion(conversationStream(id))
    )
    const behind = Effect.gen(function* () {
      yield* projector.catchUp
      if (conversationIds.length === 0) return false
      const rows = yield* sql<{ conversation_id: string; version: number }>`
        SELECT conversation_id::text AS conversation_id, version FROM rm_conversations
        WHERE conversation_id IN ${sql.in(conversationIds)}
      `
      const versions = new Map(rows.map((row) => [row.conversation_id, row.version]))
      return conversationIds.some((id, i) => (versions.get(id) ?? 0) < expected[i]!)
    })
    yield* behind.pipe(
      Effect.repeat({ while: (stillBehind) => stillBehind, schedule: Schedule.spaced("10 millis") }),
      Effect.timeout("30 seconds")
    )
  })

/** The read-model rows of a conversation say what the state folded from its stream says. */
export const assertAgreesWithFold = (conversationId: ConversationId) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const history = yield* ConversationHistory
    const { state, version } = yield* load(store, conversationId)
    const conversation = yield* history.getConversation(conversationId, "all")
    const messages = yield* history.listMessages(conversationId, { installationIds: "all", limit: 200 })
    const bot = messages.items.filter((message) => message.direction === "bot")
    const user = messages.items.filter((message) => message.direction === "user")
    const mismatch = (what: string, actual: unknown, expected: unknown) =>
      JSON.stringify(actual) === JSON.stringify(expected)
        ? Effect.void
        : Effect.die(
            new Error(
              `${conversationId}: ${what} is ${JSON.stringify(actual)}, the fold says ${JSON.stringify(expected)}`
            )
          )
    yield* mismatch("version", conversation.version, version)
    yield* mismatch("user messages", user.length, HashMap.size(state.userMessages))
    yield* mismatch(
      "open turns",
      user.filter((message) => message.turn?.status === "open").map((message) => message.id),
      state.openTurns.map((turn) => turn.userMessageId)
    )
    yield* mismatch("open turn count", conversation.openTurnCount, state.openTurns.length)
    yield* mismatch("bot messages", bot.length, HashMap.size(state.botMessages))
    for (const row of bot) {
      const folded = HashMap.get(state.botMessages, row.id)
      yield* mismatch(
        `bot message ${row.id}`,
        [row.delivery?.status, row.delivery?.attempts, row.delivery?.lastError, row.userId, row.inReplyTo],
        folded._tag === "Some"
          ? [
              folded.value.status,
              folded.value.attempts,
              folded.value.lastError,
              folded.value.userId,
              folded.value.inReplyTo
            ]
          : undefined
      )
    }
    yield* mismatch(
      "pending count",
      conversation.pendingCount,
      [...HashMap.values(state.botMessages)].filter((message) => message.status === "pending").length
    )
  })
