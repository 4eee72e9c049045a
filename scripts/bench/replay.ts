import { createHash } from "node:crypto"
import {
  Conversation,
  ConversationSnapshots,
  ConversationStream,
  Database,
  EventStore,
  FoldLog,
  type Ids
} from "@messaging-api/domain"
import { Effect, Layer, Result, Stream } from "effect"
import { SqlClient } from "effect/sql"
import type { BenchContext } from "./bench-context.ts"
import { createBenchDatabase } from "./bench-database.ts"
import type { Figures } from "./report.ts"
import { teardown } from "./teardown.ts"

/**
 * 5. Replay: folding a 1,000,000-event log from Postgres in-process with the domain's own code
 * (FoldLog.foldLog: pages of the log → ConversationStream.decodeRecorded → Conversation.evolve,
 * one state per stream) through the same PgClient the service uses. The log is written directly with SQL:
 * 10,000 conversations × 100 events (ConversationStarted, then turns of UserMessageReceived,
 * BotMessageEmitted, BotTurnCompleted, MessageDelivered), interleaved across conversations in
 * the global log as live traffic would leave them. Also reported, to show where the time goes:
 * reading alone, decoding + folding alone (events already in memory), and loading conversations
 * one stream at a time (what an actor does when it wakes).
 */

export const uuidOf = (name: string) => {
  const hex = createHash("md5").update(name).digest("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

export const insertVersions = (
  conversations: number,
  from: number,
  to: number,
  installationId: string,
  tag = ""
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`
      WITH g AS (
        SELECT c, v, (v - 2) / 4 AS turn, (v - 2) % 4 AS kind,
               md5('conversation${tag}' || c)::uuid AS conversation_id,
               to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts
        FROM generate_series(${from}, ${to}) AS v, generate_series(1, ${conversations}) AS c
      )
      INSERT INTO events (stream_id, version, event_id, type, data)
      SELECT 'conversation-' || conversation_id, v, md5('event${tag}' || c || '-' || v)::uuid,
        CASE WHEN v = 1 THEN 'ConversationStarted'
             WHEN kind = 0 THEN 'UserMessageReceived'
             WHEN kind = 1 THEN 'BotMessageEmitted'
             WHEN kind = 2 THEN 'BotTurnCompleted'
             ELSE 'MessageDelivered' END,
        CASE WHEN v = 1 THEN jsonb_build_object(
               'conversationId', conversation_id, 'installationId', '${installationId}'::uuid,
               'externalConversationId', 'c-' || c, 'startedAt', ts)
             WHEN kind = 0 THEN jsonb_build_object(
               'messageId', md5('user${tag}' || c || '-' || turn)::uuid, 'externalMessageId', 'm-' || c || '-' || turn,
               'userId', md5('user-of${tag}' || c)::uuid, 'externalUserId', 'u-' || c, 'type', 'text',
               'text', 'hello ' || turn, 'payload', jsonb_build_object('text', 'hello ' || turn),
               'fingerprint', md5('fingerprint${tag}' || c || '-' || turn), 'receivedAt', ts)
             WHEN kind = 1 THEN jsonb_build_object(
               'messageId', md5('bot${tag}' || c || '-' || turn)::uuid, 'inReplyTo', md5('user${tag}' || c || '-' || turn)::uuid,
               'type', 'text', 'payload', jsonb_build_object('text', 'hello ' || turn), 'emittedAt', ts)
             WHEN kind = 2 THEN jsonb_build_object(
               'userMessageId', md5('user${tag}' || c || '-' || turn)::uuid, 'messageCount', 1, 'completedAt', ts)
             ELSE jsonb_build_object(
               'messageId', md5('bot${tag}' || c || '-' || turn)::uuid, 'attempt', 1, 'status', 200,
               'durationMs', 1.5, 'deliveredAt', ts) END
      FROM g ORDER BY v, c
    `)
  })

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = performance.now()
    const value = yield* effect
    return { value, seconds: (performance.now() - start) / 1000 }
  })

export const measureReplay = async (context: BenchContext): Promise<Figures> => {
  const conversations = context.quick ? 1_000 : 10_000
  const eventsPerConversation = 100
  const total = conversations * eventsPerConversation
  const sampleStreams = context.quick ? 100 : 1_000
  const cleanup = teardown()
  try {
    const database = cleanup.add(await createBenchDatabase("replay"), (database) => database.drop())
    const program = Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const installationId = uuidOf("installation")
      context.log(`replay: writing ${total.toLocaleString("en-US")} events with SQL`)
      const write = yield* timed(
        Effect.forEach(
          Array.from({ length: eventsPerConversation / 10 }, (_, i) => i * 10 + 1),
          (from) => insertVersions(conversations, from, from + 9, installationId),
          { discard: true }
        )
      )
      yield* sql.unsafe("VACUUM ANALYZE events")
      context.log(`replay: written in ${write.seconds.toFixed(1)} s; folding`)

      const read = yield* timed(Stream.runCount(FoldLog.readLog()))
      const fold = yield* timed(FoldLog.foldLog())
      // Decoding and folding alone: a slice of the log already in memory.
      const slice = yield* Stream.runCollect(store.readAll().pipe(Stream.take(Math.min(total, 200_000))))
      // The decoder the fold runs (`decodeRecorded`, no Effect per event).
      const inMemory = yield* timed(
        Effect.sync(() => {
          const memo = new Map<string, Conversation.ConversationState>()
          for (const recorded of slice) {
            const event = ConversationStream.decodeRecorded(recorded)
            if (Result.isFailure(event)) throw new Error(event.failure.message)
            memo.set(
              recorded.streamId,
              Conversation.evolve(memo.get(recorded.streamId) ?? Conversation.initialState, event.success)
            )
          }
        })
      )

      const perStream = yield* timed(
        Effect.forEach(
          Array.from(
            { length: sampleStreams },
            (_, i) => uuidOf(`conversation${i + 1}`) as Ids.ConversationId
          ),
          (id) => ConversationStream.load(store, id),
          { concurrency: 1 }
        )
      )

      // Activation of one long conversation, as an actor does it (ConversationSnapshots.load): the
      // first time from the start of its stream (no snapshot yet), then — after the actor saved a
      // snapshot and 50 more events arrived (snapshots are at most SNAPSHOT_EVERY behind) — from
      // the snapshot and the events after it.
      const longEvents = context.quick ? 10_000 : 100_000
      const longInstallation = uuidOf("long-installation")
      for (let from = 1; from <= longEvents; from += 10_000) {
        yield* insertVersions(1, from, Math.min(longEvents, from + 9_999), longInstallation, "-long-").pipe(
          Effect.provideService(SqlClient.SqlClient, sql)
        )
      }
      yield* sql.unsafe("VACUUM ANALYZE events")
      const longId = uuidOf("conversation-long-1") as Ids.ConversationId
      const snapshots = yield* ConversationSnapshots.ConversationSnapshots
      const cold = yield* timed(snapshots.load(longId))
      yield* snapshots.save(longId, cold.value)
      yield* insertVersions(1, longEvents + 1, longEvents + 50, longInstallation, "-long-").pipe(
        Effect.provideService(SqlClient.SqlClient, sql)
      )
      const activation = yield* timed(snapshots.load(longId))
      const fullFold = yield* timed(ConversationStream.load(store, longId))

      const sample = fold.value.get(`conversation-${uuidOf("conversation1")}`)?.state
      const plausible =
        fold.value.size === conversations &&
        sample !== undefined &&
        sample.started !== null &&
        sample.outbox.length === 1 &&
        perStream.value.every((loaded) => loaded.version === eventsPerConversation)
      return {
        rows: read.value,
        plausible,
        writeSeconds: write.seconds,
        readRate: read.value / read.seconds,
        foldRate: total / fold.seconds,
        foldSeconds: fold.seconds,
        inMemoryRate: slice.length / inMemory.seconds,
        perStreamRate: (sampleStreams * eventsPerConversation) / perStream.seconds,
        activation: {
          events: activation.value.version,
          fromSnapshot: activation.value.snapshotVersion,
          ms: Math.round(activation.seconds * 10_000) / 10,
          coldMs: Math.round(cold.seconds * 10_000) / 10,
          fullHistoryFoldMs: Math.round(fullFold.seconds * 10_000) / 10
        }
      }
    })
    const result = await Effect.runPromise(
      program.pipe(
        Effect.provide(
          ConversationSnapshots.ConversationSnapshots.layer.pipe(
            Layer.provideMerge(EventStore.EventStore.layer),
            Layer.provideMerge(Database.layer({ url: database.url }))
          )
        )
      )
    )
    const round = (value: number) => Math.round(value)
    context.log(`replay: ${round(result.foldRate)} events/s folded`)
    return {
      replay: {
        figure: round(result.foldRate),
        unit: "events/s",
        target: "≥ 500,000 events/s",
        met: result.foldRate >= 500_000 && result.plausible && result.rows === total,
        note:
          `${total.toLocaleString("en-US")} events in ${result.foldSeconds.toFixed(1)} s; read only ${round(result.readRate)}/s, ` +
          `decode+evolve only ${round(result.inMemoryRate)}/s, per-stream load ${round(result.perStreamRate)}/s` +
          (result.plausible ? "" : "; FOLDED STATE IMPLAUSIBLE"),
        details: { ...result, conversations, eventsPerConversation }
      },
      activation: {
        figure: result.activation.ms,
        unit: `ms for ${result.activation.events.toLocaleString("en-US")} events`,
        target: "≤ 10 ms for a conversation with 100,000 events",
        met: result.activation.ms <= 10 && result.activation.events >= 100_000,
        note:
          `an actor's activation (ConversationSnapshots.load) from its snapshot at ` +
          `${result.activation.fromSnapshot.toLocaleString("en-US")} plus the events after it; the first ` +
          `activation, before any snapshot, ${result.activation.coldMs} ms; folding the whole history ` +
          `(replay's view) ${result.activation.fullHistoryFoldMs} ms`,
        details: result.activation
      }
    }
  } finally {
    await cleanup.run()
  }
}
