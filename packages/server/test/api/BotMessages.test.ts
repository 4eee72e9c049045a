import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { AccessTokens, Installations } from "@messaging-api/domain"
import { Effect } from "effect"
import { Webhook } from "standardwebhooks"
import { startReceiver, waitFor } from "./LoopbackReceiver.ts"
import { makeEngineTestLayer, postJson } from "./TestServer.ts"

// POST /v1/conversations/{id}/messages on the real server with the real delivery engine (actors,
// deliverer) behind it, delivering to a real response endpoint on 127.0.0.1.

/** This file's installations: its engine leaves the other files' conversations alone. */
const mine = new Set<string>()

const TestLayer = makeEngineTestLayer({ mine })

/** An installation of this file's, with a token limited to it. */
const installationWithToken = (responseUrl: string) =>
  Effect.gen(function* () {
    const installations = yield* Installations.Installations
    const installation = yield* installations.create({
      bot: { _tag: "echo" },
      responseUrl,
      retrySchedule: [10, 20, 40]
    })
    mine.add(installation.id)
    const tokens = yield* AccessTokens.AccessTokens
    const created = yield* tokens.create({
      name: "bot",
      admin: false,
      installationIds: [installation.id]
    })
    return { installation, token: created.token }
  })

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })(
  "POST /v1/conversations/{botpressConversationId}/messages",
  (it) => {
    it.effect("delivers a bot's later message, signed, after the reply; other tokens get 404", () =>
      Effect.gen(function* () {
        const receiver = yield* startReceiver()
        const a = yield* installationWithToken(`${receiver.url}/replies`)
        const b = yield* installationWithToken(`${receiver.url}/replies`)
        const external = `conversation-${randomUUID()}`
        const received = yield* postJson(
          `/webhooks/${a.installation.webhookId}`,
          { userId: "user-1", messageId: randomUUID(), conversationId: external, type: "text", text: "hi" },
          a.token
        )
        assert.strictEqual(received.status, 200, received.text)
        const conversationId: string = received.json.conversation.id
        yield* waitFor(() => receiver.arrivals.length >= 1 || undefined)

        const path = `/v1/conversations/${conversationId}/messages`
        const posted = yield* postJson(path, { type: "text", payload: { text: "later" } }, a.token)
        assert.strictEqual(posted.status, 202, posted.text)
        assert.strictEqual(posted.json.botpressConversationId, conversationId)
        const messageId: string = posted.json.botpressMessageId

        yield* waitFor(() => receiver.arrivals.length >= 2 || undefined)
        const delivery = receiver.arrivals[1]!
        assert.strictEqual(delivery.headers["webhook-id"], messageId)
        // The library an application would use verifies it with the installation's secret.
        assert.deepStrictEqual(
          new Webhook(a.installation.signingSecret).verify(
            delivery.body,
            delivery.headers as Record<string, string>
          ),
          {
            type: "text",
            payload: { text: "later" },
            conversationId: external,
            botpressUserId: received.json.user.id,
            botpressMessageId: messageId,
            botpressConversationId: conversationId
          }
        )

        // Another installation's token, an unknown conversation, an id that is not one: all alike.
        for (const [target, token] of [
          [path, b.token],
          [`/v1/conversations/${randomUUID()}/messages`, a.token],
          ["/v1/conversations/nope/messages", a.token]
        ] as const) {
          const refused = yield* postJson(target, { type: "text", payload: { text: "no" } }, token)
          assert.strictEqual(refused.status, 404, refused.text)
          assert.strictEqual(refused.json.error.code, "conversation_not_found")
        }
        const unauthenticated = yield* postJson(path, { type: "text", payload: { text: "no" } })
        assert.strictEqual(unauthenticated.status, 401, unauthenticated.text)
      })
    )

    it.effect("refuses a payload that does not fit its Botpress type, and a body without a type", () =>
      Effect.gen(function* () {
        const receiver = yield* startReceiver()
        const a = yield* installationWithToken(`${receiver.url}/replies`)
        const received = yield* postJson(
          `/webhooks/${a.installation.webhookId}`,
          {
            userId: "user-1",
            messageId: randomUUID(),
            conversationId: `conversation-${randomUUID()}`,
            type: "text",
            text: "hi"
          },
          a.token
        )
        const path = `/v1/conversations/${received.json.conversation.id}/messages`

        const image = yield* postJson(
          path,
          { type: "image", payload: { url: "https://x.example/a.png" } },
          a.token
        )
        assert.strictEqual(image.status, 400, image.text)
        assert.strictEqual(image.json.error.code, "invalid_payload")
        assert.deepStrictEqual(
          image.json.error.details.map((detail: { field: string }) => detail.field),
          ["payload"]
        )

        const untyped = yield* postJson(path, { payload: { text: "x" } }, a.token)
        assert.strictEqual(untyped.status, 400, untyped.text)
        assert.strictEqual(untyped.json.error.code, "invalid_body")
        assert.deepStrictEqual(
          untyped.json.error.details.map((detail: { field: string }) => detail.field),
          ["type"]
        )

        // Other types pass through unchecked, as in Botpress.
        const custom = yield* postJson(path, { type: "custom", payload: { any: [1, 2] } }, a.token)
        assert.strictEqual(custom.status, 202, custom.text)
        yield* waitFor(
          () => receiver.arrivals.some((delivery) => JSON.parse(delivery.body).type === "custom") || undefined
        )
        assert.isFalse(receiver.arrivals.some((delivery) => JSON.parse(delivery.body).type === "image"))
      })
    )
  }
)
