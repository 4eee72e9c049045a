import { randomBytes } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Webhook } from "standardwebhooks"
import { headers, signature } from "../src/WebhookSigner.ts"

const newSecret = () => `whsec_${randomBytes(32).toString("base64")}`

describe("WebhookSigner", () => {
  it("signs as the standardwebhooks library does, and the library verifies it", () => {
    const secret = `whsec_${randomBytes(32).toString("base64")}`
    const timestamp = Math.floor(Date.now() / 1000)
    const body = JSON.stringify({ type: "text", payload: { text: "héllo" } })
    const signed = headers({ secrets: [secret], id: "msg_1", timestamp, body })
    assert.strictEqual(signed["webhook-id"], "msg_1")
    assert.strictEqual(signed["webhook-timestamp"], String(timestamp))
    assert.strictEqual(
      signed["webhook-signature"],
      new Webhook(secret).sign("msg_1", new Date(timestamp * 1000), body)
    )
    assert.deepStrictEqual(new Webhook(secret).verify(body, signed), JSON.parse(body))
    assert.throws(() => new Webhook(secret).verify(body, { ...signed, "webhook-id": "msg_2" }))
    const other = `whsec_${randomBytes(32).toString("base64")}`
    assert.notStrictEqual(
      signature({ secret: other, id: "msg_1", timestamp, body }),
      signed["webhook-signature"]
    )
  })

  it("with two secrets, lists both signatures (current first) and verifies under either secret only", () => {
    const current = newSecret()
    const previous = newSecret()
    const timestamp = Math.floor(Date.now() / 1000)
    const body = JSON.stringify({ type: "text", payload: { text: "rotated" } })
    const signed = headers({ secrets: [current, previous], id: "msg_2", timestamp, body })

    assert.strictEqual(
      signed["webhook-signature"],
      `${new Webhook(current).sign("msg_2", new Date(timestamp * 1000), body)} ${new Webhook(previous).sign(
        "msg_2",
        new Date(timestamp * 1000),
        body
      )}`
    )
    assert.deepStrictEqual(new Webhook(current).verify(body, signed), JSON.parse(body), "the new secret")
    assert.deepStrictEqual(new Webhook(previous).verify(body, signed), JSON.parse(body), "the old secret")
    assert.throws(() => new Webhook(newSecret()).verify(body, signed), /signature/i, "any other secret")
    assert.throws(() => new Webhook(previous).verify(`${body} `, signed), /signature/i, "another body")

    // After the overlap: the new secret alone, which the old one no longer verifies.
    const after = headers({ secrets: [current], id: "msg_2", timestamp, body })
    assert.notInclude(after["webhook-signature"], " ")
    assert.deepStrictEqual(new Webhook(current).verify(body, after), JSON.parse(body))
    assert.throws(() => new Webhook(previous).verify(body, after), /signature/i)
  })
})
