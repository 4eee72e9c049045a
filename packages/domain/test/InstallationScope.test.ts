import { assert, describe, it } from "@effect/vitest"
import { Option, Schema } from "effect"
import {
  ConversationId,
  conversationOfStream,
  conversationStream,
  InstallationId,
  isConversationStream
} from "../src/Ids.ts"
import { allows, InstallationScope, narrow, ofToken } from "../src/InstallationScope.ts"

const decodeInstallation = Schema.decodeUnknownSync(InstallationId)
const mine = decodeInstallation("0f4f6a2e-4b8c-4f39-9a53-7d0b1c2e3f40")
const theirs = decodeInstallation("5a0c8f3e-1d2b-4c6a-8e9f-0a1b2c3d4e5f")

describe("ids", () => {
  it("lower-cases a uuid once, when it is decoded, and refuses anything else", () => {
    assert.strictEqual(decodeInstallation("0F4F6A2E-4B8C-4F39-9A53-7D0B1C2E3F40"), mine)
    assert.isTrue(Option.isNone(Schema.decodeUnknownOption(InstallationId)("not-a-uuid")))
    // A value that was never decoded is not taken for one: upper case is not an id's type.
    assert.isFalse(Schema.is(InstallationId)("0F4F6A2E-4B8C-4F39-9A53-7D0B1C2E3F40"))
  })

  it("names a conversation's stream in one place, and reads the conversation back from it", () => {
    const id = Schema.decodeUnknownSync(ConversationId)("AFA67616-D345-4F83-B162-72404370FA6E")
    const stream = conversationStream(id)
    assert.isTrue(isConversationStream(stream))
    assert.strictEqual(conversationOfStream(stream), id)
    assert.isUndefined(conversationOfStream("installation-afa67616-d345-4f83-b162-72404370fa6e"))
    assert.isUndefined(conversationOfStream("conversation-not-a-uuid"))
  })
})

describe("InstallationScope", () => {
  it("lets a scope see only its installations; all sees every one", () => {
    assert.isTrue(allows("all", theirs))
    assert.isTrue(allows([mine], mine))
    assert.isFalse(allows([mine], theirs))
    assert.isFalse(allows([], mine))
  })

  it("narrows to one installation only when the scope holds it", () => {
    assert.deepStrictEqual(narrow("all", theirs), [theirs])
    assert.deepStrictEqual(narrow([mine, theirs], mine), [mine])
    assert.isUndefined(narrow([mine], theirs))
  })

  it("reads a token's scope: null installations mean all", () => {
    assert.strictEqual(ofToken({ installationIds: null }), "all")
    assert.deepStrictEqual(ofToken({ installationIds: [mine] }), [mine])
  })

  it("decodes from the wire as all or a list of ids, lower-cased", () => {
    const decode = Schema.decodeUnknownSync(InstallationScope)
    assert.strictEqual(decode("all"), "all")
    assert.deepStrictEqual(decode(["0F4F6A2E-4B8C-4F39-9A53-7D0B1C2E3F40"]), [mine])
    assert.throws(() => decode("some"))
  })
})
