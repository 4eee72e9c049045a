import { randomBytes } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Webhook } from "standardwebhooks"
import { headers, signature } from "../src/WebhookSigner.ts"

describe("WebhookSigner", () => {
  it("signs as the standardwebhooks library does, and the library verifies it", () => {
    const secret = `whsec_${randomBytes(32).toString("base64")}`
    const timestamp = Math.floor(Date.now() / 1000)
    const body = JSON.stringify({ type: "text", payload: { text: "héllo" } })
    const signed = headers({ secret, id: "msg_1", timestamp, body })
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
})
