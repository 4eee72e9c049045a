import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { fileDatabaseUrl } from "../FileDatabase.ts"
import { connect, type EventSourceLike, events } from "./SseClient.ts"
import { installationWithToken, makeTestLayer, userMessage } from "./TestServer.ts"

/**
 * Many open live streams cost the database what one does: they share one follower of the log per
 * kind of stream. Measured by Postgres itself: the transactions committed in this file's own
 * database while the streams sit idle, with one stream open and then with 200.
 */

const TestLayer = makeTestLayer(await fileDatabaseUrl(), {
  heartbeatInterval: "100 millis",
  maxStreamsPerToken: 1000
})

/** Transactions committed in this database so far, as Postgres counts them. */
const committed = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ n: string }>`
    SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = current_database()
  `
  return Number(rows[0]!.n)
})

/** Heartbeats of one stream: the idle interval is counted in them, not in wall-clock time. */
const heartbeats = (stream: EventSourceLike, count: number) =>
  Effect.gen(function* () {
    for (let seen = 0; seen < count; ) {
      const frame = yield* stream.next
      if (frame.comment === "heartbeat") seen++
    }
  })

/**
 * Transactions committed while `stream` sends 30 heartbeats. A backend that goes idle within a
 * second of its last report holds its counts back for up to 10 seconds (PGSTAT_IDLE_INTERVAL), so
 * the work before the interval is given 105 heartbeats to be counted first.
 */
const idleCommits = (stream: EventSourceLike) =>
  Effect.gen(function* () {
    yield* heartbeats(stream, 105)
    const before = yield* committed
    yield* heartbeats(stream, 30)
    return (yield* committed) - before
  })

layer(TestLayer, { timeout: 120_000, excludeTestServices: true })("many live streams", (it) => {
  it.effect("200 idle streams read the log no more than one does, and each gets every new event", () =>
    Effect.gen(function* () {
      const a = yield* installationWithToken
      const conversationId = yield* userMessage(a, "watched by many")
      const conversationPath = `/v1/conversations/${conversationId}/events?lastEventId=2`
      const installationPath = `/v1/installations/${a.installationId}/events`

      const first = yield* connect(conversationPath, a.token)
      assert.strictEqual(first.status, 200)
      const withOne = yield* idleCommits(first)

      const others = yield* Effect.forEach(
        Array.from({ length: 199 }, (_, n) => (n % 4 === 0 ? installationPath : conversationPath)),
        (path) => connect(path, a.token),
        { concurrency: 20 }
      )
      assert.isTrue(others.every((stream) => stream.status === 200))
      const withMany = yield* idleCommits(first)
      // One follower per process and kind, not one per stream: 199 more streams each polling the
      // log twice a second would add some 1,200 transactions here.
      assert.isBelow(withMany, withOne * 2 + 100, `one stream: ${withOne} commits; 200 streams: ${withMany}`)

      // And every stream still gets the next event, once.
      yield* userMessage(a, "watched by many")
      const received = yield* Effect.forEach([first, ...others], (stream) => events(stream, 1), {
        concurrency: "unbounded"
      })
      for (const [frame] of received) assert.strictEqual(frame!.event, "UserMessageReceived")
      assert.strictEqual(received.filter(([frame]) => frame!.id === "3").length, 1 + 149)
    }).pipe(Effect.scoped)
  )
})
