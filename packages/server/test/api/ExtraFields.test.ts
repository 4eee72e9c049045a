import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { adminToken, installationWithToken, postJson, Receiver, send, TestLayer } from "./TestServer.ts"

// Fields a request body does not define, over real HTTP: the webhook ignores them (the original
// integration does, and back ends written for it may send them); every /v1 body refuses them with a
// 400 naming the field. /openapi.json says the same (`additionalProperties`).

const fieldsOf = (json: { error: { details: ReadonlyArray<{ field: string }> } }) =>
  json.error.details.map((issue) => issue.field)

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("extra fields in request bodies", (it) => {
  it.effect("the webhook ignores them: not stored, not part of the idempotency check", () =>
    Effect.gen(function* () {
      // Given a body of the original integration with fields it does not define, at both levels
      const installation = yield* installationWithToken
      const body = {
        userId: "user-1",
        messageId: `m-${randomUUID()}`,
        conversationId: `c-${randomUUID()}`,
        type: "text",
        text: "hello",
        channel: "web",
        metadata: { source: "crm" }
      }
      // When it is posted
      const first = yield* postJson(installation.webhookPath, body, installation.token)
      // Then it is accepted, and the extra fields are nowhere in the answer or the history
      assert.strictEqual(first.status, 200, first.text)
      assert.notProperty(first.json.message, "channel")
      assert.notInclude(first.text, "crm")
      const conversationId = first.json.conversation.id as string
      const events = yield* send("GET", `/v1/conversations/${conversationId}/events`, {
        headers: { authorization: `Bearer ${installation.token}` }
      })
      assert.strictEqual(events.status, 200, events.text)
      assert.include(events.text, "UserMessageReceived")
      assert.notInclude(events.text, "crm")
      assert.notInclude(events.text, "channel")

      // When the same message comes again without them, or with others, Then it is the same message
      const { channel: _channel, metadata: _metadata, ...plain } = body
      for (const repeat of [plain, { ...plain, trace: "abc" }]) {
        const again = yield* postJson(installation.webhookPath, repeat, installation.token)
        assert.strictEqual(again.status, 200, again.text)
        assert.strictEqual(again.json.duplicate, true)
        assert.strictEqual(again.json.message.id, first.json.message.id)
      }
    })
  )

  it.effect("POST /v1/installations refuses them, naming each, and creates nothing", () =>
    Effect.gen(function* () {
      const token = yield* adminToken
      const receiver = yield* Receiver
      // This test's own URL: other test files create installations in the same database meanwhile.
      const responseUrl = `${receiver.url}/ok/${randomUUID()}`
      // Given a misspelt field at the top and an http bot's field on an echo bot
      const refused = yield* postJson(
        "/v1/installations",
        {
          bot: { _tag: "echo", url: "http://127.0.0.1:9/bot" },
          responseUrl,
          retry_schedule: "1s",
          skipVerify: true
        },
        token
      )
      // Then 400, naming both fields
      assert.strictEqual(refused.status, 400, refused.text)
      assert.strictEqual(refused.json.error.code, "invalid_body")
      const fields = fieldsOf(refused.json)
      assert.include(fields, "retry_schedule", refused.text)
      assert.isTrue(
        fields.some((field) => field.startsWith("bot")),
        refused.text
      )
      assert.include(refused.json.error.message, "retry_schedule")
      const after = yield* send("GET", "/v1/installations", { headers: { authorization: `Bearer ${token}` } })
      assert.strictEqual(after.status, 200, after.text)
      assert.isFalse(
        (after.json as ReadonlyArray<{ readonly responseUrl: string | null }>).some(
          (installation) => installation.responseUrl === responseUrl
        ),
        "nothing was created"
      )

      // And the same body without them is accepted
      const accepted = yield* postJson(
        "/v1/installations",
        { bot: { _tag: "echo" }, responseUrl, retrySchedule: "1s", skipVerify: true },
        token
      )
      assert.strictEqual(accepted.status, 201, accepted.text)
    })
  )

  it.effect("POST /v1/tokens refuses them, naming each", () =>
    Effect.gen(function* () {
      const token = yield* adminToken
      const refused = yield* postJson("/v1/tokens", { name: "ci", scopes: ["webhooks"] }, token)
      assert.strictEqual(refused.status, 400, refused.text)
      assert.deepStrictEqual(fieldsOf(refused.json), ["scopes"])
      const accepted = yield* postJson("/v1/tokens", { name: "ci" }, token)
      assert.strictEqual(accepted.status, 201, accepted.text)
    })
  )

  it.effect("POST /v1/conversations/{id}/messages refuses them, naming each", () =>
    Effect.gen(function* () {
      // Given a conversation, and a bot message with a `text` beside its payload (a likely mistake)
      const installation = yield* installationWithToken
      const started = yield* postJson(
        installation.webhookPath,
        {
          userId: "u",
          messageId: `m-${randomUUID()}`,
          conversationId: `c-${randomUUID()}`,
          type: "text",
          text: "hi"
        },
        installation.token
      )
      assert.strictEqual(started.status, 200, started.text)
      const path = `/v1/conversations/${started.json.conversation.id}/messages`
      const refused = yield* postJson(
        path,
        { type: "text", text: "hello", payload: { text: "hello", extra: "payloads are free" } },
        installation.token
      )
      // Then 400 names it; the payload's own fields are the message type's business, not refused here
      assert.strictEqual(refused.status, 400, refused.text)
      assert.deepStrictEqual(fieldsOf(refused.json), ["text"])
      const accepted = yield* postJson(
        path,
        { type: "text", payload: { text: "hello", extra: "payloads are free" } },
        installation.token
      )
      assert.strictEqual(accepted.status, 202, accepted.text)
    })
  )

  it.effect("/openapi.json says so: the webhook's body is open, the others closed", () =>
    Effect.gen(function* () {
      const spec = (yield* send("GET", "/openapi.json")).json
      const bodySchema = (path: string) => {
        const ref: string = spec.paths[path].post.requestBody.content["application/json"].schema.$ref
        return spec.components.schemas[ref.split("/").at(-1)!]
      }
      assert.strictEqual(bodySchema("/webhooks/{webhookId}").additionalProperties, true)
      assert.match(bodySchema("/webhooks/{webhookId}").description, /ignored/)
      for (const path of ["/v1/installations", "/v1/tokens", "/v1/conversations/{conversationId}/messages"]) {
        assert.strictEqual(bodySchema(path).additionalProperties, false, path)
      }
    })
  )
})
