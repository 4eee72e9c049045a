import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Ids } from "@messaging-api/domain"
import { Effect, type Schema } from "effect"
import { SqlClient } from "effect/sql"
import { adminToken, client, eventCount, postJson, Receiver, send, TestLayer } from "./TestServer.ts"

/** An installation (verified against the real receiver) and a token limited to it. */
const installationWithToken = Effect.gen(function* () {
  const admin = yield* client(yield* adminToken)
  const receiver = yield* Receiver
  const installation = yield* admin.installations.create({
    payload: { bot: { _tag: "echo" }, responseUrl: `${receiver.url}/ok` }
  })
  const token = yield* admin.tokens.create({
    payload: { name: "webhook", installationIds: [installation.id] }
  })
  return { admin, installation, token: token.token, path: `/webhooks/${installation.webhookId}` }
})

const message = (overrides: Record<string, unknown> = {}) => ({
  userId: `user-${randomUUID()}`,
  messageId: `message-${randomUUID()}`,
  conversationId: `conversation-${randomUUID()}`,
  type: "text",
  text: "Hello bot",
  ...overrides
})

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("POST /webhooks/{webhookId}", (it) => {
  it.effect("accepts the body from the original integration's documentation unchanged", () =>
    Effect.gen(function* () {
      const { installation, token, path } = yield* installationWithToken
      // Step 6 of the integration's "Getting started", field for field.
      const body = {
        userId: "user-123",
        messageId: "message-456",
        conversationId: "conversation-789",
        type: "text",
        text: "Hello, bot!",
        payload: { text: "Hello, bot!" }
      }
      const response = yield* send("POST", path, {
        headers: { "Content-Type": "application/json", Authorization: `bearer ${token}` },
        body: JSON.stringify(body)
      })
      assert.strictEqual(response.status, 200, response.text)
      const installationId = installation.id as Ids.InstallationId
      assert.deepStrictEqual(response.json, {
        message: {
          id: Ids.userMessageIdFor(installationId, "message-456"),
          messageId: "message-456",
          conversationId: "conversation-789",
          userId: "user-123",
          type: "text",
          text: "Hello, bot!",
          payload: { text: "Hello, bot!" },
          tags: { id: "message-456" }
        },
        user: { id: Ids.userIdFor(installationId, "user-123"), tags: { id: "user-123" } },
        conversation: {
          id: Ids.conversationIdFor(installationId, "conversation-789"),
          tags: { id: "conversation-789" }
        }
      })

      // Committed before the answer: the event is there now.
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{
        readonly type: string
        readonly data: { readonly externalMessageId: string }
      }>`
        SELECT type, data FROM events
        WHERE stream_id = ${Ids.conversationStream(Ids.conversationIdFor(installationId, "conversation-789"))}
        ORDER BY version
      `
      assert.deepStrictEqual(
        rows.map((row) => row.type),
        ["ConversationStarted", "UserMessageReceived"]
      )
      assert.strictEqual(rows[1]!.data.externalMessageId, "message-456")
    })
  )

  it.effect("fills in the payload as the original does", () =>
    Effect.gen(function* () {
      const { token, path } = yield* installationWithToken
      const absent = yield* postJson(path, message({ text: "hi" }), token)
      assert.deepStrictEqual(absent.json.message.payload, { text: "hi" })
      const withoutText = yield* postJson(path, message({ text: "hi", payload: { choice: 2 } }), token)
      assert.deepStrictEqual(withoutText.json.message.payload, { choice: 2, text: "hi" })
      const withText = yield* postJson(path, message({ text: "hi", payload: { text: "own" } }), token)
      assert.deepStrictEqual(withText.json.message.payload, { text: "own" })
      const notAnObject = yield* postJson(path, message({ text: "hi", payload: ["a", 1] }), token)
      assert.deepStrictEqual(notAnObject.json.message.payload, ["a", 1])
    })
  )

  it.effect("answers a repeat with the original ids and duplicate: true, writing nothing more", () =>
    Effect.gen(function* () {
      const { installation, token, path } = yield* installationWithToken
      const body = message()
      const first = yield* postJson(path, body, token)
      assert.strictEqual(first.status, 200)
      assert.isUndefined(first.json.duplicate)
      const written = yield* eventCount(installation.id)

      // Same body, keys in another order: the same message.
      const reordered = Object.fromEntries(Object.entries(body).reverse())
      const second = yield* postJson(path, reordered, token)
      assert.strictEqual(second.status, 200)
      assert.strictEqual(second.json.duplicate, true)
      assert.deepStrictEqual(second.json.message, first.json.message)
      assert.deepStrictEqual(second.json.user, first.json.user)
      assert.deepStrictEqual(second.json.conversation, first.json.conversation)
      assert.strictEqual(yield* eventCount(installation.id), written)
    })
  )

  it.effect("refuses a reused messageId with a different body (409), writing nothing", () =>
    Effect.gen(function* () {
      const { installation, token, path } = yield* installationWithToken
      const body = message()
      assert.strictEqual((yield* postJson(path, body, token)).status, 200)
      const written = yield* eventCount(installation.id)

      const otherText = yield* postJson(path, { ...body, text: "something else" }, token)
      assert.strictEqual(otherText.status, 409)
      assert.strictEqual(otherText.json.error.code, "message_id_reused")
      // The same messageId aimed at another conversation is the same conflict.
      const otherConversation = yield* postJson(path, { ...body, conversationId: "elsewhere" }, token)
      assert.strictEqual(otherConversation.status, 409)
      assert.strictEqual(yield* eventCount(installation.id), written)
    })
  )

  it.effect("lets a token limited to installation A use A but not B (403)", () =>
    Effect.gen(function* () {
      const a = yield* installationWithToken
      const b = yield* installationWithToken
      assert.strictEqual((yield* postJson(a.path, message(), a.token)).status, 200)
      const refused = yield* postJson(b.path, message(), a.token)
      assert.strictEqual(refused.status, 403)
      assert.strictEqual(refused.json.error.code, "installation_not_allowed")
      assert.strictEqual(yield* eventCount(b.installation.id), 0)
    })
  )

  it.effect("refuses a revoked token (401) within one second", () =>
    Effect.gen(function* () {
      const { admin, installation, token, path } = yield* installationWithToken
      assert.strictEqual((yield* postJson(path, message(), token)).status, 200)
      const tokens = yield* admin.tokens.list()
      const id = tokens.find((candidate) => token.startsWith(`mapi_${candidate.id}_`))!.id
      const revoked = yield* admin.tokens.revoke({ params: { id } })
      assert.isNotNull(revoked.revokedAt)
      yield* Effect.sleep("1 second")
      const written = yield* eventCount(installation.id)
      const refused = yield* postJson(path, message(), token)
      assert.strictEqual(refused.status, 401)
      assert.strictEqual(refused.json.error.code, "invalid_token")
      assert.strictEqual(yield* eventCount(installation.id), written)
    })
  )

  it.effect("accepts a payload nested exactly 64 levels deep, and unicode that is well formed", () =>
    Effect.gen(function* () {
      const { path, token } = yield* installationWithToken
      let payload: Schema.Json = "bottom 🦊"
      // The outermost an array: an object without `text` would get the text added.
      for (let i = 0; i < 64; i++) payload = i % 2 === 1 ? [payload] : { inner: payload }
      const response = yield* send("POST", path, {
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json; charset=UTF-8" },
        body: JSON.stringify(message({ text: "café 🦊", payload }))
      })
      assert.strictEqual(response.status, 200, response.text)
      assert.deepStrictEqual(response.json.message.payload, payload)
      assert.strictEqual(response.json.message.text, "café 🦊")
    })
  )

  it.effect("answers every malformed request with its status and our error shape, writing nothing", () =>
    Effect.gen(function* () {
      const { admin, installation, token, path } = yield* installationWithToken
      const other = yield* installationWithToken
      const revokedToken = yield* admin.tokens.create({ payload: { installationIds: [installation.id] } })
      yield* admin.tokens.revoke({ params: { id: revokedToken.id } })

      const json = { "content-type": "application/json" }
      const bearer = { ...json, authorization: `Bearer ${token}` }
      const valid = JSON.stringify(message())
      const allFields = ["userId", "messageId", "conversationId", "type", "text"]
      const twoMiB = JSON.stringify(message({ text: "x".repeat(2 * 1024 * 1024) }))
      const nested = (depth: number): Schema.Json => {
        let value: Schema.Json = "bottom"
        for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { inner: value }
        return value
      }

      interface Case {
        readonly name: string
        readonly path?: string
        readonly headers: Record<string, string>
        readonly body?: RequestInit["body"]
        readonly duplex?: "half"
        readonly status: number
        readonly code: string
        readonly fields?: ReadonlyArray<string>
      }
      const cases: ReadonlyArray<Case> = [
        { name: "no body", headers: bearer, status: 400, code: "missing_body", fields: ["body"] },
        { name: "invalid JSON", headers: bearer, body: '{"userId": "u",', status: 400, code: "invalid_json" },
        {
          name: "a JSON array",
          headers: bearer,
          body: "[]",
          status: 400,
          code: "invalid_body",
          fields: ["body"]
        },
        { name: "a JSON string", headers: bearer, body: '"hello"', status: 400, code: "invalid_body" },
        {
          name: "wrong types",
          headers: bearer,
          body: JSON.stringify({ userId: 1, messageId: true, conversationId: {}, type: [], text: null }),
          status: 400,
          code: "invalid_body",
          fields: allFields
        },
        {
          name: "empty strings",
          headers: bearer,
          body: JSON.stringify({ userId: "", messageId: "", conversationId: "", type: "", text: "" }),
          status: 400,
          code: "invalid_body",
          fields: allFields
        },
        {
          name: "missing fields",
          headers: bearer,
          body: "{}",
          status: 400,
          code: "invalid_body",
          fields: allFields
        },
        {
          name: "one missing field",
          headers: bearer,
          body: JSON.stringify({ ...message(), text: undefined }),
          status: 400,
          code: "invalid_body",
          fields: ["text"]
        },
        {
          name: "a NUL character in the text",
          headers: bearer,
          body: JSON.stringify(message({ text: "a\u0000b" })),
          status: 400,
          code: "invalid_body",
          fields: ["text"]
        },
        {
          name: "a lone surrogate in an id",
          headers: bearer,
          body: JSON.stringify(message({ userId: "user-\ud800" })),
          status: 400,
          code: "invalid_body",
          fields: ["userId"]
        },
        {
          name: "a NUL character deep in the payload",
          headers: bearer,
          body: JSON.stringify(message({ payload: { a: [{ b: "x\u0000" }] } })),
          status: 400,
          code: "invalid_body",
          fields: ["payload"]
        },
        {
          name: "a lone surrogate in a payload key",
          headers: bearer,
          body: JSON.stringify(message({ payload: { "\udc00": 1 } })),
          status: 400,
          code: "invalid_body",
          fields: ["payload"]
        },
        {
          name: "a payload nested 65 levels deep",
          headers: bearer,
          body: JSON.stringify(message({ payload: nested(65) })),
          status: 400,
          code: "invalid_body",
          fields: ["payload"]
        },
        {
          name: "a payload nested 4,000 levels deep",
          headers: bearer,
          body: JSON.stringify(message({ payload: nested(4000) })),
          status: 400,
          code: "invalid_body",
          fields: ["payload"]
        },
        {
          name: "blank ids",
          headers: bearer,
          body: JSON.stringify(message({ userId: "   ", messageId: "\t", conversationId: " \n " })),
          status: 400,
          code: "invalid_body",
          fields: ["userId", "messageId", "conversationId"]
        },
        {
          name: "an id of 10,000 characters",
          headers: bearer,
          body: JSON.stringify(message({ messageId: "m".repeat(10_000) })),
          status: 400,
          code: "invalid_body",
          fields: ["messageId"]
        },
        {
          name: "a charset other than UTF-8",
          headers: { ...bearer, "content-type": "application/json; charset=latin1" },
          body: valid,
          status: 415,
          code: "unsupported_media_type"
        },
        {
          name: "no Content-Type",
          headers: { authorization: `Bearer ${token}` },
          body: valid,
          status: 415,
          code: "unsupported_media_type"
        },
        {
          name: "a compressed body",
          headers: { ...bearer, "content-encoding": "gzip" },
          body: valid,
          status: 415,
          code: "unsupported_media_type"
        },
        { name: "a 2 MiB body", headers: bearer, body: twoMiB, status: 413, code: "payload_too_large" },
        {
          name: "a 2 MiB body without content-length",
          headers: bearer,
          body: new Blob([twoMiB]).stream(),
          duplex: "half",
          status: 413,
          code: "payload_too_large"
        },
        {
          name: "text/plain",
          headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" },
          body: valid,
          status: 415,
          code: "unsupported_media_type"
        },
        {
          name: "form encoded",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/x-www-form-urlencoded" },
          body: "userId=u",
          status: 415,
          code: "unsupported_media_type"
        },
        { name: "no Authorization", headers: json, body: valid, status: 401, code: "missing_token" },
        {
          name: "another scheme",
          headers: { ...json, authorization: `Token ${token}` },
          body: valid,
          status: 401,
          code: "missing_token"
        },
        {
          name: "Bearer without a token",
          headers: { ...json, authorization: "Bearer" },
          body: valid,
          status: 401,
          code: "missing_token"
        },
        {
          name: "an unknown token",
          headers: { ...json, authorization: `Bearer mapi_0123456789abcdef_${"A".repeat(43)}` },
          body: valid,
          status: 401,
          code: "invalid_token"
        },
        {
          name: "a token with the right id and a wrong secret",
          headers: { ...json, authorization: `Bearer ${token.slice(0, -4)}AAAA` },
          body: valid,
          status: 401,
          code: "invalid_token"
        },
        {
          name: "a revoked token",
          headers: { ...json, authorization: `Bearer ${revokedToken.token}` },
          body: valid,
          status: 401,
          code: "invalid_token"
        },
        {
          name: "an unknown webhook",
          path: "/webhooks/no-such-webhook",
          headers: bearer,
          body: valid,
          status: 404,
          code: "webhook_not_found"
        },
        {
          name: "a token of another installation",
          path: `/webhooks/${other.installation.webhookId}`,
          headers: bearer,
          body: valid,
          status: 403,
          code: "installation_not_allowed"
        }
      ]

      for (const testCase of cases) {
        const response = yield* send("POST", testCase.path ?? path, {
          headers: testCase.headers,
          ...(testCase.body === undefined ? {} : { body: testCase.body }),
          ...(testCase.duplex === undefined ? {} : { duplex: testCase.duplex })
        })
        const label = `${testCase.name}: ${response.status} ${response.text.slice(0, 300)}`
        assert.strictEqual(response.status, testCase.status, label)
        assert.match(response.contentType ?? "", /^application\/json/, label)
        assert.strictEqual(response.json?.error?.code, testCase.code, label)
        assert.isString(response.json.error.message, label)
        if (testCase.fields !== undefined) {
          const named = (response.json.error.details as ReadonlyArray<{ field: string }>).map(
            (issue) => issue.field
          )
          assert.deepStrictEqual([...new Set(named)].sort(), [...testCase.fields].sort(), label)
        }
      }

      assert.strictEqual(yield* eventCount(installation.id), 0)
      assert.strictEqual(yield* eventCount(other.installation.id), 0)
    })
  )
})
