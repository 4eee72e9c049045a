import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { EventStore, Ids } from "@messaging-api/domain"
import { Deferred, Effect, Fiber, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { connect, ended, events, ids, untilHeartbeat } from "./SseClient.ts"
import { adminToken, client, installationWithToken, makeTestLayer, send, userMessage } from "./TestServer.ts"

/**
 * The live streams over real HTTP: a client reads Server-Sent Events with fetch, hangs up in the
 * middle, and comes back with the last id it saw.
 */

const TestLayer = makeTestLayer(inject("databaseUrl"), {
  heartbeatInterval: "100 millis",
  maxStreamsPerToken: 3
})

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("the live event streams", (it) => {
  it.effect("resumes a conversation's stream after a disconnect: the rest, in order, nothing twice", () =>
    Effect.gen(function* () {
      const a = yield* installationWithToken
      const conversationId = yield* userMessage(a, "live")
      yield* userMessage(a, "live")
      const path = `/v1/conversations/${conversationId}/events`

      // Versions 1-3 are stored; read two of them and hang up in the middle.
      const first = yield* connect(path, a.token)
      assert.strictEqual(first.status, 200)
      assert.strictEqual(first.headers.get("content-type"), "text/event-stream")
      assert.strictEqual(first.headers.get("cache-control"), "no-cache")
      assert.strictEqual(first.headers.get("x-accel-buffering"), "no")
      const seen = yield* events(first, 2)
      assert.deepStrictEqual(ids(seen), ["1", "2"])
      assert.deepStrictEqual(
        seen.map((frame) => frame.event),
        ["ConversationStarted", "UserMessageReceived"]
      )
      const data = JSON.parse(seen[0]!.data!)
      assert.strictEqual(data.version, 1)
      assert.strictEqual(data.type, "ConversationStarted")
      assert.strictEqual(data.data.installationId, a.installationId)
      assert.isString(data.recordedAt)
      yield* first.close

      // While no one listens, two more messages.
      yield* userMessage(a, "live")
      yield* userMessage(a, "live")

      const resumed = yield* connect(path, a.token, { "last-event-id": "2" })
      assert.deepStrictEqual(ids(yield* events(resumed, 3)), ["3", "4", "5"])
      // Then live: a message sent now arrives once, and nothing else follows it.
      yield* userMessage(a, "live")
      assert.deepStrictEqual(ids(yield* events(resumed, 1)), ["6"])
      assert.deepStrictEqual(yield* untilHeartbeat(resumed), [])
    }).pipe(Effect.scoped)
  )

  it.effect(
    "follows a conversation that has nothing new, with heartbeats, and takes the id in the query too",
    () =>
      Effect.gen(function* () {
        const a = yield* installationWithToken
        const conversationId = yield* userMessage(a, "quiet")
        const path = `/v1/conversations/${conversationId}/events`

        // Everything is seen already: only heartbeats, until something happens.
        const quiet = yield* connect(`${path}?lastEventId=2`, a.token)
        assert.deepStrictEqual(yield* untilHeartbeat(quiet), [])
        assert.deepStrictEqual(yield* untilHeartbeat(quiet), [])
        yield* userMessage(a, "quiet")
        assert.deepStrictEqual(ids(yield* events(quiet, 1)), ["3"])

        // The header wins over the query (a browser reconnects to the same URL with a newer header).
        const both = yield* connect(`${path}?lastEventId=0`, a.token, { "last-event-id": "2" })
        assert.deepStrictEqual(ids(yield* events(both, 1)), ["3"])
        assert.deepStrictEqual(yield* untilHeartbeat(both), [])

        // `fromVersion` says where a stream without an id starts.
        const fromTwo = yield* connect(`${path}?fromVersion=2`, a.token)
        assert.deepStrictEqual(ids(yield* events(fromTwo, 2)), ["2", "3"])
        assert.deepStrictEqual(yield* untilHeartbeat(fromTwo), [])

        // Without `Accept: text/event-stream` the same path answers a JSON page.
        const page = yield* send("GET", path, { headers: { authorization: `Bearer ${a.token}` } })
        assert.strictEqual(page.status, 200)
        assert.deepStrictEqual(
          page.json.items.map((event: { version: number }) => event.version),
          [1, 2, 3]
        )
      }).pipe(Effect.scoped)
  )

  it.effect("streams to the typed client, which decodes each event as the API declares it", () =>
    Effect.gen(function* () {
      const a = yield* installationWithToken
      const conversationId = yield* userMessage(a, "typed")
      yield* userMessage(a, "typed")
      const reader = yield* client(a.token)
      const stream = yield* reader.history.conversationEvents({
        params: { conversationId },
        query: {},
        headers: { accept: "text/event-stream", "last-event-id": "1" }
      })
      assert.isTrue(Stream.isStream(stream))
      if (!Stream.isStream(stream)) return
      const received = yield* stream.pipe(Stream.take(2), Stream.runCollect)
      assert.deepStrictEqual(
        received.map((event) => [event.id, event.event, event.data.version, event.data.type]),
        [
          ["2", "UserMessageReceived", 2, "UserMessageReceived"],
          ["3", "UserMessageReceived", 3, "UserMessageReceived"]
        ]
      )
    })
  )

  it.effect("refuses a Last-Event-ID that is not one of the stream's ids (400)", () =>
    Effect.gen(function* () {
      const a = yield* installationWithToken
      const conversationId = yield* userMessage(a, "bad-id")
      for (const [path, id] of [
        [`/v1/conversations/${conversationId}/events`, "abc"],
        [`/v1/conversations/${conversationId}/events`, "1:2"],
        [`/v1/installations/${a.installationId}/events`, "12"],
        [`/v1/installations/${a.installationId}/events`, "x:y"]
      ] as const) {
        const response = yield* send("GET", path, {
          headers: { accept: "text/event-stream", authorization: `Bearer ${a.token}`, "last-event-id": id }
        })
        assert.strictEqual(response.status, 400, `${path} ${id}: ${response.text}`)
        assert.strictEqual(response.json.error.code, "invalid_last_event_id")
      }
    })
  )

  it.effect("resumes an installation's stream from an opaque id, with only that installation's events", () =>
    Effect.gen(function* () {
      const a = yield* installationWithToken
      const b = yield* installationWithToken
      const path = `/v1/installations/${a.installationId}/events`

      // Without an id the stream starts at the log's horizon: from now on, and perhaps with events
      // committed just before, while an older transaction (of any database on the server) was open.
      const before = yield* userMessage(a, "before")
      const first = yield* connect(path, a.token)
      assert.strictEqual(first.status, 200)
      const one = yield* userMessage(a, "one")
      yield* userMessage(b, "elsewhere")
      const two = yield* userMessage(a, "two")
      const received = yield* events(first, 4)
      while (received.filter((frame) => JSON.parse(frame.data!).conversationId !== before).length < 4) {
        received.push(...(yield* events(first, 1)))
      }
      const seen = received.filter((frame) => JSON.parse(frame.data!).conversationId !== before)
      // Events from before come first, if at all.
      assert.deepStrictEqual(received.slice(received.length - 4), seen)
      assert.deepStrictEqual(
        seen.map((frame) => [JSON.parse(frame.data!).conversationId, frame.event]),
        [
          [one, "ConversationStarted"],
          [one, "UserMessageReceived"],
          [two, "ConversationStarted"],
          [two, "UserMessageReceived"]
        ]
      )
      yield* first.close

      yield* userMessage(a, "one")
      yield* userMessage(b, "elsewhere")
      const three = yield* userMessage(a, "three")

      // Resume after the second of the four: the rest of them, then what came while away.
      const resumed = yield* connect(path, a.token, { "last-event-id": seen[1]!.id! })
      const rest = yield* events(resumed, 5)
      assert.deepStrictEqual(ids(rest.slice(0, 2)), ids(seen.slice(2)))
      assert.deepStrictEqual(
        rest.slice(2).map((frame) => [JSON.parse(frame.data!).conversationId, frame.event]),
        [
          [one, "UserMessageReceived"],
          [three, "ConversationStarted"],
          [three, "UserMessageReceived"]
        ]
      )
      assert.deepStrictEqual(yield* untilHeartbeat(resumed), [])
      // Nothing twice: every id differs.
      assert.strictEqual(new Set(ids([...seen, ...rest])).size, 7)
    }).pipe(Effect.scoped)
  )

  it.effect("ends a token's open streams when it is revoked, and any stream of a deleted installation", () =>
    Effect.gen(function* () {
      const admin = yield* client(yield* adminToken)
      const watched = yield* installationWithToken
      const conversationId = yield* userMessage(watched, "watched")
      const reader = yield* admin.tokens.create({
        payload: { name: "revoked later", installationIds: [watched.installationId] }
      })
      const conversation = yield* connect(`/v1/conversations/${conversationId}/events`, reader.token)
      const installation = yield* connect(`/v1/installations/${watched.installationId}/events`, reader.token)
      assert.strictEqual(conversation.status, 200)
      assert.strictEqual(installation.status, 200)
      yield* events(conversation, 1)

      yield* admin.tokens.revoke({ params: { id: reader.id } })
      yield* ended(conversation)
      yield* ended(installation)

      // A stream of an admin token ends when the installation it watches is deleted.
      const deleted = yield* installationWithToken
      const adminStream = yield* connect(
        `/v1/installations/${deleted.installationId}/events`,
        yield* adminToken
      )
      assert.strictEqual(adminStream.status, 200)
      yield* admin.installations.delete({ params: { id: deleted.installationId } })
      yield* ended(adminStream)
    }).pipe(Effect.scoped)
  )

  it.effect(
    "lets one token hold at most MAX_STREAMS_PER_TOKEN open streams; a closed one frees its place",
    () =>
      Effect.gen(function* () {
        const watched = yield* installationWithToken
        const path = `/v1/installations/${watched.installationId}/events`
        const open = yield* Effect.forEach([1, 2, 3], () => connect(path, watched.token))
        assert.deepStrictEqual(
          open.map((stream) => stream.status),
          [200, 200, 200]
        )
        const refused = yield* send("GET", path, {
          headers: { accept: "text/event-stream", authorization: `Bearer ${watched.token}` }
        })
        assert.strictEqual(refused.status, 429, refused.text)
        assert.strictEqual(refused.json.error.code, "too_many_streams")
        // Another token is not affected.
        const other = yield* connect(path, yield* adminToken)
        assert.strictEqual(other.status, 200)

        // Hanging up gives the place back (once the server notices: at its next heartbeat).
        yield* open[0]!.close
        let again = yield* Effect.scoped(
          connect(path, watched.token).pipe(Effect.map((stream) => stream.status))
        )
        for (let tries = 0; again !== 200 && tries < 50; tries++) {
          yield* Effect.sleep("50 millis")
          again = yield* Effect.scoped(
            connect(path, watched.token).pipe(Effect.map((stream) => stream.status))
          )
        }
        assert.strictEqual(again, 200)
      }).pipe(Effect.scoped)
  )

  it.effect("streams an installation to an admin token but not to another installation's token", () =>
    Effect.gen(function* () {
      const a = yield* installationWithToken
      const b = yield* installationWithToken
      const admin = yield* connect(`/v1/installations/${a.installationId}/events`, yield* adminToken)
      const conversationId = yield* userMessage(a, "watched")
      assert.deepStrictEqual(
        (yield* events(admin, 2)).map((frame) => JSON.parse(frame.data!).conversationId),
        [conversationId, conversationId]
      )
      const refused = yield* send("GET", `/v1/installations/${a.installationId}/events`, {
        headers: { accept: "text/event-stream", authorization: `Bearer ${b.token}` }
      })
      assert.strictEqual(refused.status, 404)
    }).pipe(Effect.scoped)
  )

  // A held transaction serialises everything on the single-session embedded Postgres: nothing to read past.
  if (process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== "") {
    it.effect(
      "keeps a conversation's stream live past a long transaction, and sends that transaction's event once it commits",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const store = yield* EventStore.EventStore
          const a = yield* installationWithToken
          const busy = yield* userMessage(a, "busy")
          const slow = yield* userMessage(a, "slow")
          const busyStream = yield* connect(`/v1/conversations/${busy}/events?lastEventId=2`, a.token)
          const slowStream = yield* connect(`/v1/conversations/${slow}/events?lastEventId=2`, a.token)

          // Another connection opens a transaction, takes an xid and appends to the slow conversation
          // through the store, then stays open (as a psql left in BEGIN would).
          const opened = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const held = yield* sql
            .withTransaction(
              Effect.gen(function* () {
                // (as text: the client cannot read an xid8 value)
                yield* sql`SELECT pg_current_xact_id()::text`
                yield* store.append(Ids.conversationStream(slow), 2, [
                  { eventId: randomUUID(), type: "HeldBack", data: { note: "committed late" } }
                ])
                yield* Deferred.succeed(opened, undefined)
                yield* Deferred.await(release)
              })
            )
            .pipe(Effect.forkChild)
          yield* Deferred.await(opened)

          // Meanwhile the busy conversation goes on, and its stream follows within LOG_STALL_BOUND.
          yield* userMessage(a, "busy")
          yield* userMessage(a, "busy")
          assert.deepStrictEqual(ids(yield* events(busyStream, 2)), ["3", "4"])

          // The old transaction commits: its event arrives, once; nothing else comes on either stream.
          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(held)
          const late = yield* events(slowStream, 1)
          assert.deepStrictEqual(
            late.map((frame) => [frame.id, frame.event]),
            [["3", "HeldBack"]]
          )
          yield* userMessage(a, "busy")
          assert.deepStrictEqual(ids(yield* events(busyStream, 1)), ["5"])
          assert.deepStrictEqual(yield* untilHeartbeat(busyStream), [])
          assert.deepStrictEqual(yield* untilHeartbeat(slowStream), [])
        }).pipe(Effect.scoped)
    )
  }
})
