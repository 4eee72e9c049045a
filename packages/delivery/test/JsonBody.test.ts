import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { OutboundMessage } from "../src/Deliverer.ts"
import { jsonBody } from "../src/JsonBody.ts"

describe("jsonBody", () => {
  it("writes the text Schema.fromJsonString writes, and refuses what the schema refuses", () => {
    const viaSchema = Schema.encodeSync(Schema.fromJsonString(OutboundMessage))
    const body = jsonBody(OutboundMessage)
    const message = {
      type: "card",
      payload: { title: 'ü \u2028 "quoted"', items: [1, 2.5, null, { nested: [true] }] },
      conversationId: "c-1",
      botpressUserId: "0b4b1d7e-9a53-5e3c-8f63-1a2b3c4d5e6f",
      botpressMessageId: "1b4b1d7e-9a53-5e3c-8f63-1a2b3c4d5e6f",
      botpressConversationId: "2b4b1d7e-9a53-5e3c-8f63-1a2b3c4d5e6f"
    }
    assert.strictEqual(body(message), viaSchema(message))
    assert.deepStrictEqual(JSON.parse(body(message)), message)
    assert.throws(() => body({ ...message, conversationId: 7 } as unknown as typeof message))
  })
})
