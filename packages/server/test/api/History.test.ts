import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import * as ConversationsEngine from "@messaging-api/delivery/Conversations"
import { ConversationCommands, EventStore, Ids, PageCursor, Projector } from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import { projectedUpTo } from "@messaging-api/domain/test/ProjectionFixtures"
import { Effect, Layer } from "effect"
import { inject } from "vitest"
import {
  adminToken,
  client,
  installationWithToken,
  makeTestLayer,
  type RawResponse,
  send,
  userMessage
} from "./TestServer.ts"

/**
 * The history routes over real HTTP and Postgres. Conversations are written as the service
 * writes them (the webhook, then bot messages and delivery attempts through `Conversations`), and
 * the read models are caught up before anything is asserted.
 */

const TestLayer = Layer.mergeAll(Projector.Projector.layer, ConversationsEngine.layerDirect).pipe(
  Layer.provideMerge(makeTestLayer(inject("databaseUrl")))
)

const botMessage = (conversationId: Ids.ConversationId, text: string) =>
  Effect.gen(function* () {
    const conversations = yield* Conversations
    const accepted = yield* conversations.post(conversationId, { type: "text", payload: { text } })
    return accepted.messageId
  })

const attempt = (
  conversationId: Ids.ConversationId,
  messageId: Ids.MessageId,
  outcome: ConversationCommands.AttemptOutcome
) =>
  Effect.gen(function* () {
    const conversations = yield* Conversations
    const at = new Date().toISOString()
    yield* conversations.execute(
      conversationId,
      new ConversationCommands.RecordDeliveryAttempt({ messageId, outcome, durationMs: 5, at })
    )
  })

const get = (path: string, token: string, headers: Record<string, string> = {}) =>
  send("GET", path, { headers: { authorization: `Bearer ${token}`, ...headers } })

/** Every item of a list, page by page, following `nextCursor`. */
const allPages = (path: string, token: string, limit: number) =>
  Effect.gen(function* () {
    // biome-ignore lint/suspicious/noExplicitAny: test assertions read into arbitrary JSON
    const items: Array<any> = []
    let pages = 0
    let cursor: string | null = null
    do {
      const separator = path.includes("?") ? "&" : "?"
      const page: RawResponse = yield* get(
        `${path}${separator}limit=${limit}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
        token
      )
      assert.strictEqual(page.status, 200, page.text)
      assert.isAtMost(page.json.items.length, limit)
      items.push(...page.json.items)
      cursor = page.json.nextCursor
      pages++
    } while (cursor !== null)
    return { items, pages }
  })

const assertNotFound = (response: RawResponse, code: string) => {
  assert.strictEqual(response.status, 404, response.text)
  assert.strictEqual(response.json.error.code, code, response.text)
}

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("the history routes", (it) => {
  it.effect("pages through conversations with cursors: every one once, only the token's", () =>
    Effect.gen(function* () {
      const a = yield* installationWithToken
      const b = yield* installationWithToken
      const ids = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => userMessage(a, `a-${n}`))
      const other = yield* userMessage(b, "b-1")
      yield* projectedUpTo([...ids, other])

      const listed = yield* allPages("/v1/conversations", a.token, 2)
      assert.strictEqual(listed.pages, 3)
      assert.sameMembers(
        listed.items.map((conversation) => conversation.id),
        ids
      )
      assert.isTrue(listed.items.every((conversation) => conversation.installationId === a.installationId))
      // Newest first.
      const started = listed.items.map((conversation) => conversation.startedAt)
      assert.deepStrictEqual(started, [...started].sort().reverse())

      // An admin sees every installation, and narrows to one with `installationId`.
      const admin = yield* adminToken
      const narrowed = yield* allPages(`/v1/conversations?installationId=${a.installationId}`, admin, 4)
      assert.sameMembers(
        narrowed.items.map((conversation) => conversation.id),
        ids
      )
      const onlyB = yield* allPages(`/v1/conversations?installationId=${b.installationId}`, admin, 50)
      assert.deepStrictEqual(
        onlyB.items.map((conversation) => conversation.id),
        [other]
      )

      const one = yield* get(`/v1/conversations/${ids[0]}`, a.token)
      assert.strictEqual(one.status, 200, one.text)
      assert.strictEqual(one.json.id, ids[0])
      assert.strictEqual(one.json.externalConversationId, "a-1")
      assert.strictEqual(one.json.userMessageCount, 1)
    })
  )

  it.effect("finds conversations by the caller's conversation id, only among the token's", () =>
    Effect.gen(function* () {
      const a = yield* installationWithToken
      const b = yield* installationWithToken
      const wanted = `search-${randomUUID()}`
      const mine = yield* userMessage(a, wanted)
      yield* userMessage(a, `${wanted}-other`)
      const theirs = yield* userMessage(b, wanted)
      yield* projectedUpTo([mine, theirs])

      const found = yield* get(`/v1/conversations?externalConversationId=${wanted}`, a.token)
      assert.strictEqual(found.status, 200, found.text)
      assert.deepStrictEqual(
        found.json.items.map((conversation: { id: string }) => conversation.id),
        [mine]
      )
      const admin = yield* adminToken
      const everywhere = yield* allPages(`/v1/conversations?externalConversationId=${wanted}`, admin, 1)
      assert.sameMembers(
        everywhere.items.map((conversation) => conversation.id),
        [mine, theirs]
      )
      const none = yield* get(`/v1/conversations?externalConversationId=${wanted}-missing`, a.token)
      assert.deepStrictEqual(none.json, { items: [], nextCursor: null })
    })
  )

  it.effect("lists a conversation's messages with delivery status, its attempts and its raw events", () =>
    Effect.gen(function* () {
      const a = yield* installationWithToken
      const conversationId = yield* userMessage(a, "chat", "one")
      yield* userMessage(a, "chat", "two")
      const first = yield* botMessage(conversationId, "reply one")
      const second = yield* botMessage(conversationId, "reply two")
      yield* attempt(conversationId, first, {
        _tag: "Retry",
        status: 503,
        error: "HTTP 503",
        nextAttemptAt: new Date().toISOString()
      })
      yield* attempt(conversationId, first, {
        _tag: "Retry",
        status: null,
        error: "timeout",
        nextAttemptAt: new Date().toISOString()
      })
      yield* attempt(conversationId, first, { _tag: "Delivered", status: 200 })
      yield* attempt(conversationId, second, { _tag: "DeadLetter", status: 404, reason: "HTTP 404" })
      yield* projectedUpTo([conversationId])
      const base = `/v1/conversations/${conversationId}`

      const messages = yield* allPages(`${base}/messages`, a.token, 3)
      assert.strictEqual(messages.pages, 2)
      assert.deepStrictEqual(
        messages.items.map((message) => [message.direction, message.text ?? message.payload.text]),
        [
          ["user", "one"],
          ["user", "two"],
          ["bot", "reply one"],
          ["bot", "reply two"]
        ]
      )
      const positions = messages.items.map((message) => message.position)
      assert.deepStrictEqual(
        positions,
        [...positions].sort((x, y) => x - y)
      )
      assert.deepStrictEqual(
        messages.items.map((message) => message.delivery?.status ?? null),
        [null, null, "delivered", "dead_lettered"]
      )
      assert.strictEqual(messages.items[2].delivery.attempts, 3)
      assert.strictEqual(messages.items[0].turn.status, "open")

      const attempts = yield* allPages(`${base}/attempts`, a.token, 2)
      assert.strictEqual(attempts.pages, 2)
      assert.deepStrictEqual(
        attempts.items.map((row) => [row.messageId, row.attempt, row.outcome, row.status]),
        [
          [first, 1, "failed", 503],
          [first, 2, "failed", null],
          [first, 3, "delivered", 200],
          [second, 1, "dead_lettered", 404]
        ]
      )
      const ofSecond = yield* allPages(`${base}/attempts?messageId=${second}`, a.token, 10)
      assert.deepStrictEqual(
        ofSecond.items.map((row) => row.messageId),
        [second]
      )

      const store = yield* EventStore.EventStore
      const version = yield* store.streamVersion(Ids.conversationStream(conversationId))
      const events = yield* allPages(`${base}/events`, a.token, 3)
      assert.deepStrictEqual(
        events.items.map((event) => event.version),
        Array.from({ length: version }, (_, i) => i + 1)
      )
      assert.strictEqual(events.items[0].type, "ConversationStarted")
      assert.strictEqual(events.items[0].data.installationId, a.installationId)
      const fromThree = yield* get(`${base}/events?fromVersion=3&limit=2`, a.token)
      assert.deepStrictEqual(
        fromThree.json.items.map((event: { version: number }) => event.version),
        [3, 4]
      )
      // Raw events come from the log itself: a message not projected yet is already there.
      yield* userMessage(a, "chat", "three")
      const fresh = yield* get(`${base}/events?fromVersion=${version + 1}`, a.token)
      assert.deepStrictEqual(
        fresh.json.items.map((event: { type: string }) => event.type),
        ["UserMessageReceived"]
      )
    })
  )

  it.effect("reads through the typed client", () =>
    Effect.gen(function* () {
      const a = yield* installationWithToken
      const conversationId = yield* userMessage(a, "typed")
      yield* projectedUpTo([conversationId])
      const reader = yield* client(a.token)
      const page = yield* reader.history.listConversations({ query: { limit: 10 } })
      assert.deepStrictEqual(
        page.items.map((conversation) => conversation.id),
        [conversationId]
      )
      const conversation = yield* reader.history.getConversation({ params: { conversationId } })
      assert.strictEqual(conversation.externalConversationId, "typed")
      const messages = yield* reader.history.listMessages({ params: { conversationId }, query: {} })
      assert.strictEqual(messages.items[0]?.text, "hello")
      const events = yield* reader.history.conversationEvents({
        params: { conversationId },
        query: {},
        headers: {}
      })
      assert.strictEqual("items" in events && events.items.length, 2)
      const missing = yield* Effect.flip(
        reader.history.getConversation({ params: { conversationId: randomUUID() } })
      )
      assert.strictEqual(missing._tag, "NotFound")
    })
  )

  it.effect("never shows another installation's conversations: they are not found", () =>
    Effect.gen(function* () {
      const a = yield* installationWithToken
      const b = yield* installationWithToken
      const mine = yield* userMessage(a, "mine")
      const theirs = yield* userMessage(b, "theirs")
      const theirBot = yield* botMessage(theirs, "psst")
      yield* projectedUpTo([mine, theirs])

      const listed = yield* allPages("/v1/conversations", a.token, 50)
      assert.deepStrictEqual(
        listed.items.map((conversation) => conversation.id),
        [mine]
      )
      assertNotFound(
        yield* get(`/v1/conversations?installationId=${b.installationId}`, a.token),
        "installation_not_found"
      )
      assertNotFound(
        yield* get(`/v1/conversations?installationId=${randomUUID()}`, a.token),
        "installation_not_found"
      )
      assertNotFound(
        yield* get("/v1/conversations?installationId=not-a-uuid", a.token),
        "installation_not_found"
      )
      for (const path of [
        `/v1/conversations/${theirs}`,
        `/v1/conversations/${theirs}/messages`,
        `/v1/conversations/${theirs}/attempts`,
        `/v1/conversations/${theirs}/events`
      ]) {
        assertNotFound(yield* get(path, a.token), "conversation_not_found")
      }
      assertNotFound(
        yield* get(`/v1/installations/${b.installationId}/events`, a.token),
        "installation_not_found"
      )
      assertNotFound(
        yield* get(`/v1/conversations/${theirs}/events`, a.token, { accept: "text/event-stream" }),
        "conversation_not_found"
      )
      // A message of theirs asked for under a conversation of mine is not found either.
      assertNotFound(
        yield* get(`/v1/conversations/${mine}/attempts?messageId=${theirBot}`, a.token),
        "message_not_found"
      )
      // The owner and an admin do see it.
      assert.strictEqual((yield* get(`/v1/conversations/${theirs}`, b.token)).status, 200)
      assert.strictEqual((yield* get(`/v1/conversations/${theirs}/messages`, yield* adminToken)).status, 200)
    })
  )

  it.effect(
    "answers 400 for a bad cursor or limit, 404 for unknown or malformed ids, 401 without a token",
    () =>
      Effect.gen(function* () {
        const a = yield* installationWithToken
        const conversationId = yield* userMessage(a, "errors")
        yield* projectedUpTo([conversationId])
        const base = `/v1/conversations/${conversationId}`

        const messagesCursor = PageCursor.encodeVersion("messages", 1)
        for (const path of [
          "/v1/conversations?cursor=garbage",
          `/v1/conversations?cursor=${messagesCursor}`,
          `${base}/messages?cursor=${"x".repeat(600)}`,
          `${base}/attempts?cursor=${messagesCursor}`,
          `${base}/events?cursor=${messagesCursor}`,
          `${base}/messages?cursor=${Buffer.from('{"k":"messages","v":-1}').toString("base64url")}`
        ]) {
          const response = yield* get(path, a.token)
          assert.strictEqual(response.status, 400, `${path}: ${response.text}`)
          assert.strictEqual(response.json.error.code, "invalid_cursor")
        }
        for (const path of [
          `${base}/messages?limit=0`,
          `${base}/messages?limit=201`,
          "/v1/conversations?limit=ten"
        ]) {
          const response = yield* get(path, a.token)
          assert.strictEqual(response.status, 400, `${path}: ${response.text}`)
          assert.strictEqual(response.json.error.details[0].field, "limit")
        }
        const badVersion = yield* get(`${base}/events?fromVersion=0`, a.token)
        assert.strictEqual(badVersion.status, 400, badVersion.text)

        for (const id of [randomUUID(), "not-a-uuid", "1"]) {
          for (const suffix of ["", "/messages", "/attempts", "/events"]) {
            assertNotFound(yield* get(`/v1/conversations/${id}${suffix}`, a.token), "conversation_not_found")
          }
        }
        assertNotFound(yield* get(`${base}/attempts?messageId=${randomUUID()}`, a.token), "message_not_found")
        assertNotFound(yield* get(`${base}/attempts?messageId=nope`, a.token), "message_not_found")
        assertNotFound(yield* get("/v1/installations/not-a-uuid/events", a.token), "installation_not_found")

        // Ids are lower-cased once, when decoded: an upper-case id names the same conversation.
        const upper = conversationId.toUpperCase()
        for (const suffix of ["", "/messages", "/events"]) {
          const response = yield* get(`/v1/conversations/${upper}${suffix}`, a.token)
          assert.strictEqual(response.status, 200, `${suffix}: ${response.text}`)
        }
        const conversation = yield* get(`/v1/conversations/${upper}`, a.token)
        assert.strictEqual(conversation.json.id, conversationId)

        const anonymous = yield* send("GET", "/v1/conversations")
        assert.strictEqual(anonymous.status, 401)
        assert.strictEqual(anonymous.json.error.code, "missing_token")
      })
  )

  it.effect("documents the routes, the JSON page and the event stream in /openapi.json", () =>
    Effect.gen(function* () {
      const spec = (yield* send("GET", "/openapi.json")).json
      const events = spec.paths["/v1/conversations/{conversationId}/events"].get
      assert.hasAllKeys(events.responses["200"].content, ["application/json", "text/event-stream"])
      assert.hasAllKeys(
        spec.paths["/v1/installations/{installationId}/events"].get.responses["200"].content,
        ["text/event-stream"]
      )
      for (const path of [
        "/v1/conversations",
        "/v1/conversations/{conversationId}",
        "/v1/conversations/{conversationId}/messages",
        "/v1/conversations/{conversationId}/attempts"
      ]) {
        assert.property(spec.paths[path], "get", path)
      }
    })
  )
})
