import { randomBytes, randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import type { Duration } from "effect"
import { Effect } from "effect"
import { Webhook } from "standardwebhooks"
import { type Arrival, startReceiver, waitFor } from "./LoopbackReceiver.ts"
import { adminToken, client, makeEngineTestLayer, postJson, send } from "./TestServer.ts"

// Signing-secret rotation from the outside: the admin API on the real server, with the real
// delivery engine behind it, delivering to (and calling an http bot at) a real endpoint on
// 127.0.0.1, whose signatures the standardwebhooks library checks under the old and new secrets.

/** This file's installations: its engines leave the other files' conversations alone. */
const mine = new Set<string>()

const serverWithOverlap = (overlap: Duration.Input) =>
  makeEngineTestLayer({
    mine,
    settings: { secretRotationOverlap: overlap },
    delivery: { botTurnRetrySchedule: [10, 20] }
  })

/** An installation made through the admin API (this file's), and a token limited to it. */
const installation = (admin: string, body: Record<string, unknown>) =>
  Effect.gen(function* () {
    const created = yield* postJson("/v1/installations", { ...body, skipVerify: true }, admin)
    assert.strictEqual(created.status, 201, created.text)
    mine.add(created.json.id)
    const token = yield* postJson(
      "/v1/tokens",
      { name: "rotation", installationIds: [created.json.id] },
      admin
    )
    assert.strictEqual(token.status, 201, token.text)
    return {
      id: created.json.id as string,
      webhookPath: `/webhooks/${created.json.webhookId}`,
      signingSecret: created.json.signingSecret as string,
      token: token.json.token as string
    }
  })

/** A user message in a new conversation; answers the user message id (the http bot's `webhook-id`). */
const userMessage = (target: { readonly webhookPath: string; readonly token: string }) =>
  Effect.gen(function* () {
    const sent = yield* postJson(
      target.webhookPath,
      {
        userId: "user-1",
        messageId: randomUUID(),
        conversationId: `conversation-${randomUUID()}`,
        type: "text",
        text: "sign me"
      },
      target.token
    )
    assert.strictEqual(sent.status, 200, sent.text)
    return { messageId: sent.json.message.id as string, conversationId: sent.json.conversation.id as string }
  })

const rotate = (id: string, admin: string) =>
  Effect.gen(function* () {
    const rotated = yield* postJson(`/v1/installations/${id}/rotate-secret`, undefined, admin)
    assert.strictEqual(rotated.status, 201, rotated.text)
    assert.deepStrictEqual(Object.keys(rotated.json), ["signingSecret"])
    assert.match(rotated.json.signingSecret, /^whsec_[A-Za-z0-9+/]+=*$/)
    return rotated.json.signingSecret as string
  })

const get = (id: string, admin: string) =>
  send("GET", `/v1/installations/${id}`, { headers: { authorization: `Bearer ${admin}` } })

const verifies = (secret: string, arrival: Arrival): boolean => {
  try {
    new Webhook(secret).verify(arrival.body, arrival.headers as Record<string, string>)
    return true
  } catch {
    return false
  }
}

const otherSecret = () => `whsec_${randomBytes(32).toString("base64")}`

layer(serverWithOverlap("1 hour"), { timeout: 60_000, excludeTestServices: true })(
  "POST /v1/installations/{id}/rotate-secret, during the overlap",
  (it) => {
    it.effect("answers the new secret; deliveries then verify under the new and the old secret", () =>
      Effect.gen(function* () {
        const receiver = yield* startReceiver()
        const admin = yield* adminToken
        const target = yield* installation(admin, {
          bot: { _tag: "echo" },
          responseUrl: `${receiver.url}/replies`
        })
        const original = target.signingSecret

        // Unknown ids, and ids that are not ids: 404 like the other routes, and nothing changes.
        for (const id of [randomUUID(), "not-an-id"]) {
          const refused = yield* postJson(`/v1/installations/${id}/rotate-secret`, undefined, admin)
          assert.strictEqual(refused.status, 404, refused.text)
          assert.strictEqual(refused.json.error.code, "installation_not_found")
        }
        const unchanged = yield* get(target.id, admin)
        assert.strictEqual(unchanged.json.signingSecret, original)
        assert.notProperty(unchanged.json, "previousSecretExpiresAt")
        // Not an admin: refused as on every installations route.
        const forbidden = yield* postJson(
          `/v1/installations/${target.id}/rotate-secret`,
          undefined,
          target.token
        )
        assert.strictEqual(forbidden.status, 403, forbidden.text)
        assert.strictEqual((yield* get(target.id, admin)).json.signingSecret, original)

        const rotated = yield* rotate(target.id, admin)
        assert.notStrictEqual(rotated, original)

        // The admin API shows the new secret and until when the old one signs, never the old one.
        const shown = yield* get(target.id, admin)
        assert.strictEqual(shown.status, 200, shown.text)
        assert.strictEqual(shown.json.signingSecret, rotated)
        assert.isAbove(Date.parse(shown.json.previousSecretExpiresAt), Date.now() + 50 * 60_000)
        const listed = yield* send("GET", "/v1/installations", {
          headers: { authorization: `Bearer ${admin}` }
        })
        assert.strictEqual(listed.status, 200, listed.text)
        assert.deepStrictEqual(
          listed.json.find((one: { id: string }) => one.id === target.id),
          shown.json
        )
        assert.notInclude(shown.text + listed.text, original, "the replaced secret is never shown")

        const first = yield* userMessage(target)
        const delivery = yield* waitFor(() =>
          receiver.arrivals.find((arrival) => arrival.body.includes(first.conversationId))
        )
        const signatures = String(delivery.headers["webhook-signature"]).split(" ")
        assert.strictEqual(signatures.length, 2, String(delivery.headers["webhook-signature"]))
        assert.isTrue(verifies(rotated, delivery), "the new secret verifies it")
        assert.isTrue(verifies(original, delivery), "the old secret verifies it")
        assert.isFalse(verifies(otherSecret(), delivery), "another secret does not")
        assert.strictEqual(
          signatures[0],
          new Webhook(rotated).sign(
            String(delivery.headers["webhook-id"]),
            new Date(Number(delivery.headers["webhook-timestamp"]) * 1000),
            delivery.body
          ),
          "the new secret's signature comes first"
        )

        // A second rotation during the overlap: the secret it replaces becomes the old one, and
        // the first secret signs no more.
        const typed = yield* client(admin)
        const again = yield* typed.installations.rotateSecret({ params: { id: target.id } })
        assert.notStrictEqual(again.signingSecret, rotated)
        const second = yield* userMessage(target)
        const later = yield* waitFor(() =>
          receiver.arrivals.find((arrival) => arrival.body.includes(second.conversationId))
        )
        assert.strictEqual(String(later.headers["webhook-signature"]).split(" ").length, 2)
        assert.isTrue(verifies(again.signingSecret, later))
        assert.isTrue(verifies(rotated, later))
        assert.isFalse(verifies(original, later))
      })
    )

    it.effect("http-bot requests carry both signatures too", () =>
      Effect.gen(function* () {
        const receiver = yield* startReceiver()
        const admin = yield* adminToken
        const target = yield* installation(admin, {
          bot: { _tag: "http", url: `${receiver.url}/bot` },
          responseUrl: `${receiver.url}/replies`
        })
        const rotated = yield* rotate(target.id, admin)
        const sent = yield* userMessage(target)
        const turn = yield* waitFor(() =>
          receiver.arrivals.find(
            (arrival) => arrival.path === "/bot" && arrival.body.includes(sent.messageId)
          )
        )
        assert.strictEqual(String(turn.headers["webhook-signature"]).split(" ").length, 2)
        assert.isTrue(verifies(rotated, turn), "the new secret verifies it")
        assert.isTrue(verifies(target.signingSecret, turn), "the old secret verifies it")
        assert.isFalse(verifies(otherSecret(), turn))
      })
    )
  }
)

layer(serverWithOverlap("300 millis"), { timeout: 60_000, excludeTestServices: true })(
  "POST /v1/installations/{id}/rotate-secret, after the overlap",
  (it) => {
    it.effect("deliveries verify under the new secret only", () =>
      Effect.gen(function* () {
        const receiver = yield* startReceiver()
        const admin = yield* adminToken
        const target = yield* installation(admin, {
          bot: { _tag: "echo" },
          responseUrl: `${receiver.url}/replies`
        })
        const rotated = yield* rotate(target.id, admin)
        const until = Date.parse((yield* get(target.id, admin)).json.previousSecretExpiresAt)
        assert.isFalse(Number.isNaN(until))
        // Wait for the overlap to end.
        yield* waitFor(() => (Date.now() > until ? true : undefined))

        const sent = yield* userMessage(target)
        const delivery = yield* waitFor(() =>
          receiver.arrivals.find((arrival) => arrival.body.includes(sent.conversationId))
        )
        assert.notInclude(String(delivery.headers["webhook-signature"]), " ", "one signature")
        assert.isTrue(verifies(rotated, delivery), "the new secret verifies it")
        assert.isFalse(verifies(target.signingSecret, delivery), "the old secret no longer does")
      })
    )
  }
)
