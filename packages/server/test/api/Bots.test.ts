import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Projector } from "@messaging-api/domain"
import { Effect, Layer, Schedule } from "effect"
import { type Answer, startReceiver, waitFor } from "./LoopbackReceiver.ts"
import { adminToken, makeEngineTestLayer, postJson, send } from "./TestServer.ts"

// Bots from the outside: the llm bot against an OpenAI-compatible server of this test's own on
// 127.0.0.1 (the provider is an outside service, so it is the one part played here), and
// synchronous replies (`?wait=`) with the echo, http and llm bots, through the real server and
// delivery engine. The fake provider answers without streaming (`"stream": false` is checked).

/** This file's installations: its engine leaves the other files' conversations alone. */
const mine = new Set<string>()

const TestLayer = Projector.Projector.layer.pipe(
  Layer.provideMerge(makeEngineTestLayer({ mine, delivery: { botTurnRetrySchedule: [5, 10, 20] } }))
)

const API_KEY = "sk-test-0123456789-secret"

/**
 * The application and its bots on one server: `/replies` (deliveries, 200), `/bot` (an http bot
 * answering one text message) and `/v1/chat/completions` (an OpenAI-compatible model whose
 * behaviour the model name picks: `ok` answers "reply to: <last user text>"; `bad-key` 401 with
 * the key echoed in its message; `unknown` 404; `flaky` 500 on its first call, then as `ok`;
 * `parts` two text parts).
 */
const startServer = Effect.suspend(() => {
  let flakyCalls = 0
  return startReceiver(({ path, headers, json }): Answer => {
    if (path === "/bot")
      return { status: 200, json: [{ type: "text", payload: { text: `http: ${json.text}` } }] }
    if (path !== "/v1/chat/completions") return { status: 200, json: {} }
    const lastUser = [...json.messages].reverse().find((m: { role: string }) => m.role === "user")
    const ok: Answer = {
      status: 200,
      json: {
        id: "chatcmpl-1",
        object: "chat.completion",
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: `reply to: ${lastUser?.content}` },
            finish_reason: "stop"
          }
        ],
        usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 }
      }
    }
    switch (json.model) {
      case "bad-key":
        return {
          status: 401,
          json: {
            error: {
              message: `Incorrect API key provided: ${headers.authorization}`,
              type: "invalid_request_error"
            }
          }
        }
      case "unknown":
        return { status: 404, json: { error: "model 'unknown' not found" } }
      case "flaky":
        flakyCalls++
        return flakyCalls === 1 ? { status: 500, json: { error: { message: "overloaded" } } } : ok
      case "parts":
        return {
          status: 200,
          json: {
            choices: [
              {
                message: {
                  role: "assistant",
                  content: [
                    { type: "text", text: "first part" },
                    { type: "text", text: "second part" }
                  ]
                },
                finish_reason: "stop"
              }
            ]
          }
        }
      default:
        return ok
    }
  })
})

/** An installation made through the admin API (this file's), and a token limited to it. */
const installation = (admin: string, body: Record<string, unknown>) =>
  Effect.gen(function* () {
    const created = yield* postJson("/v1/installations", body, admin)
    assert.strictEqual(created.status, 201, created.text)
    mine.add(created.json.id)
    const token = yield* postJson("/v1/tokens", { name: "bots", installationIds: [created.json.id] }, admin)
    assert.strictEqual(token.status, 201, token.text)
    return {
      id: created.json.id as string,
      created,
      webhookPath: `/webhooks/${created.json.webhookId}`,
      token: token.json.token as string
    }
  })

const message = (conversationId: string, text: string) => ({
  userId: "user-1",
  messageId: `m-${randomUUID()}`,
  conversationId,
  type: "text",
  text
})

const llmBot = (baseUrl: string, model: string, extra: Record<string, unknown> = {}) => ({
  _tag: "llm",
  baseUrl: `${baseUrl}/v1`,
  model,
  apiKey: API_KEY,
  ...extra
})

const get = (path: string, token: string) =>
  send("GET", path, { headers: { authorization: `Bearer ${token}` } })

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("bots", (it) => {
  it.effect(
    "?wait= answers the echo bot's replies, still delivers them, and a duplicate answers the original's",
    () =>
      Effect.gen(function* () {
        const admin = yield* adminToken
        const server = yield* startServer
        const target = yield* installation(admin, {
          bot: { _tag: "echo" },
          responseUrl: `${server.url}/replies`,
          skipVerify: true
        })
        const body = message(`c-${randomUUID()}`, "ping")
        const sent = yield* postJson(`${target.webhookPath}?wait=10s`, body, target.token)
        assert.strictEqual(sent.status, 200, sent.text)
        assert.strictEqual(sent.json.message.messageId, body.messageId)
        assert.strictEqual(sent.json.replies.length, 1)
        const reply = sent.json.replies[0]
        assert.deepStrictEqual(
          { type: reply.type, payload: reply.payload },
          { type: "text", payload: { text: "ping" } }
        )
        // Delivered as usual, under the same id.
        const delivered = yield* waitFor(() => server.arrivals.find((a) => a.path === "/replies"))
        assert.strictEqual(delivered.json.botpressMessageId, reply.botpressMessageId)

        const again = yield* postJson(`${target.webhookPath}?wait=1500ms`, body, target.token)
        assert.strictEqual(again.status, 200, again.text)
        assert.strictEqual(again.json.duplicate, true)
        assert.deepStrictEqual(again.json.replies, sent.json.replies)

        // Without ?wait= the answer is as it always was.
        const plain = yield* postJson(target.webhookPath, message(`c-${randomUUID()}`, "x"), target.token)
        assert.strictEqual(plain.status, 200)
        assert.isFalse("replies" in plain.json)
      })
  )

  it.effect("a bad ?wait= is 400 invalid_request naming wait, and nothing is written", () =>
    Effect.gen(function* () {
      const admin = yield* adminToken
      const target = yield* installation(admin, { bot: { _tag: "echo" }, responseUrl: null })
      for (const wait of ["31s", "abc", "-1s", "1h"]) {
        const body = message(`c-${randomUUID()}`, "ping")
        const sent = yield* postJson(`${target.webhookPath}?wait=${wait}`, body, target.token)
        assert.strictEqual(sent.status, 400, `${wait}: ${sent.text}`)
        assert.strictEqual(sent.json.error.code, "invalid_request")
        assert.strictEqual(sent.json.error.details[0].field, "wait")
        // The message was refused, so the same id is new afterwards.
        const retried = yield* postJson(target.webhookPath, body, target.token)
        assert.isFalse("duplicate" in retried.json, wait)
      }
    })
  )

  it.effect(
    "a pull-only installation (responseUrl null) is created unchecked, POSTs nothing, and shows its messages as pull",
    () =>
      Effect.gen(function* () {
        const admin = yield* adminToken
        const server = yield* startServer
        // No skipVerify: there is no endpoint to check.
        const target = yield* installation(admin, {
          bot: { _tag: "http", url: `${server.url}/bot` },
          responseUrl: null
        })
        assert.strictEqual(target.created.json.responseUrl, null)
        const sent = yield* postJson(
          `${target.webhookPath}?wait=10s`,
          message(`c-${randomUUID()}`, "hi"),
          target.token
        )
        assert.strictEqual(sent.status, 200, sent.text)
        assert.deepStrictEqual(
          sent.json.replies.map((r: { type: string; payload: unknown }) => [r.type, r.payload]),
          [["text", { text: "http: hi" }]]
        )
        const conversationId = sent.json.conversation.id
        // The read model follows the log: caught up and asked again until it holds both messages.
        const projector = yield* Projector.Projector
        const messages = yield* Effect.andThen(
          projector.catchUp,
          get(`/v1/conversations/${conversationId}/messages`, admin)
        ).pipe(
          Effect.flatMap((page) =>
            page.status === 200 && page.json.items.length === 2
              ? Effect.succeed(page)
              : Effect.fail(`not yet: ${page.text}`)
          ),
          Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 500 })
        )
        const bot = messages.json.items.find((m: { direction: string }) => m.direction === "bot")
        assert.strictEqual(bot.id, sent.json.replies[0].botpressMessageId)
        assert.strictEqual(bot.delivery.status, "pull")
        assert.strictEqual(bot.delivery.attempts, 0)
        const events = yield* get(`/v1/conversations/${conversationId}/events`, admin)
        const emitted = events.json.items.find((e: { type: string }) => e.type === "BotMessageEmitted")
        assert.strictEqual(emitted.data.delivery, "pull")
        // The http bot was called; nothing else was POSTed anywhere.
        assert.deepStrictEqual(
          server.arrivals.map((a) => a.path),
          ["/bot"]
        )
      })
  )

  it.effect(
    "the llm bot: history in order after the system prompt, the key as a bearer token, replies in the answer",
    () =>
      Effect.gen(function* () {
        const admin = yield* adminToken
        const server = yield* startServer
        const target = yield* installation(admin, {
          bot: llmBot(server.url, "ok", { system: "You are terse." }),
          responseUrl: `${server.url}/replies`,
          skipVerify: true
        })
        const conversation = `c-${randomUUID()}`
        const first = yield* postJson(
          `${target.webhookPath}?wait=10s`,
          message(conversation, "one"),
          target.token
        )
        assert.strictEqual(first.status, 200, first.text)
        assert.deepStrictEqual(
          first.json.replies.map((r: { type: string; payload: unknown }) => [r.type, r.payload]),
          [["text", { text: "reply to: one" }]]
        )
        const second = yield* postJson(
          `${target.webhookPath}?wait=10s`,
          message(conversation, "two"),
          target.token
        )
        assert.deepStrictEqual(
          second.json.replies.map((r: { payload: unknown }) => r.payload),
          [{ text: "reply to: two" }]
        )
        const calls = server.arrivals.filter((a) => a.path === "/v1/chat/completions")
        assert.strictEqual(calls.length, 2)
        for (const call of calls) {
          assert.strictEqual(call.headers.authorization, `Bearer ${API_KEY}`)
          assert.strictEqual(call.json.model, "ok")
          assert.strictEqual(call.json.stream, false)
        }
        assert.deepStrictEqual(calls[1]!.json.messages, [
          { role: "system", content: "You are terse." },
          { role: "user", content: "one" },
          { role: "assistant", content: "reply to: one" },
          { role: "user", content: "two" }
        ])
        // Delivered as usual too.
        yield* waitFor(() =>
          server.arrivals.filter((a) => a.path === "/replies").length === 2 ? true : undefined
        )
      })
  )

  it.effect("the llm bot sends only the last historyMessages, and each text part is a message", () =>
    Effect.gen(function* () {
      const admin = yield* adminToken
      const server = yield* startServer
      const short = yield* installation(admin, {
        bot: llmBot(server.url, "ok", { historyMessages: 2, apiKey: undefined }),
        responseUrl: null
      })
      const conversation = `c-${randomUUID()}`
      for (const text of ["a", "b", "c"]) {
        const sent = yield* postJson(
          `${short.webhookPath}?wait=10s`,
          message(conversation, text),
          short.token
        )
        assert.strictEqual(sent.json.replies.length, 1, sent.text)
      }
      const calls = server.arrivals.filter((a) => a.path === "/v1/chat/completions")
      assert.deepStrictEqual(calls[2]!.json.messages, [
        { role: "assistant", content: "reply to: b" },
        { role: "user", content: "c" }
      ])
      assert.isUndefined(calls[2]!.headers.authorization, "no key, no authorization header")

      const parts = yield* installation(admin, { bot: llmBot(server.url, "parts"), responseUrl: null })
      const sent = yield* postJson(
        `${parts.webhookPath}?wait=10s`,
        message(`c-${randomUUID()}`, "x"),
        parts.token
      )
      assert.deepStrictEqual(
        sent.json.replies.map((r: { payload: unknown }) => r.payload),
        [{ text: "first part" }, { text: "second part" }]
      )
    })
  )

  it.effect('the apiKey is write-only: every view says "set" and none holds the key', () =>
    Effect.gen(function* () {
      const admin = yield* adminToken
      const server = yield* startServer
      const target = yield* installation(admin, { bot: llmBot(server.url, "ok"), responseUrl: null })
      assert.strictEqual(target.created.json.bot.apiKey, "set")
      assert.notInclude(target.created.text, API_KEY)
      const one = yield* get(`/v1/installations/${target.id}`, admin)
      assert.strictEqual(one.json.bot.apiKey, "set")
      assert.strictEqual(one.json.bot.model, "ok")
      assert.notInclude(one.text, API_KEY)
      const all = yield* get("/v1/installations", admin)
      assert.notInclude(all.text, API_KEY)
    })
  )

  it.effect(
    "provider errors: 5xx is retried along the schedule; 401 and 404 fail the turn for good with the provider's message, the key scrubbed",
    () =>
      Effect.gen(function* () {
        const admin = yield* adminToken
        const server = yield* startServer
        const flaky = yield* installation(admin, { bot: llmBot(server.url, "flaky"), responseUrl: null })
        const retried = yield* postJson(
          `${flaky.webhookPath}?wait=10s`,
          message(`c-${randomUUID()}`, "x"),
          flaky.token
        )
        assert.deepStrictEqual(
          retried.json.replies.map((r: { payload: unknown }) => r.payload),
          [{ text: "reply to: x" }]
        )

        for (const [model, expected] of [
          ["bad-key", "HTTP 401: Incorrect API key provided: Bearer <redacted>"],
          ["unknown", "HTTP 404: model 'unknown' not found"]
        ] as const) {
          const target = yield* installation(admin, { bot: llmBot(server.url, model), responseUrl: null })
          const sent = yield* postJson(
            `${target.webhookPath}?wait=10s`,
            message(`c-${randomUUID()}`, "x"),
            target.token
          )
          assert.strictEqual(sent.status, 200, sent.text)
          assert.deepStrictEqual(sent.json.replies, [])
          const events = yield* get(`/v1/conversations/${sent.json.conversation.id}/events`, admin)
          const failures = events.json.items.filter((e: { type: string }) => e.type === "BotTurnFailed")
          assert.strictEqual(failures.length, 1, events.text)
          assert.include(failures[0].data.reason, expected)
          assert.isNull(failures[0].data.retryAt)
          assert.notInclude(events.text, API_KEY)
        }
      })
  )
})
