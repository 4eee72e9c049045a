import { createHash } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Ids from "../src/Ids.ts"

/**
 * Derived ids are stored in the log and handed to callers, so the derivation must never change:
 * the same names give the same id in every version. Pinned values were computed by the first
 * implementation (a `Hash` object per call); the property compares with RFC 4122's recipe.
 */

const NAMESPACE = Buffer.from("6f1c3a529b1e4d0aa7f32d64c1b8e0a9", "hex")

/** RFC 4122 §4.3 with SHA-1, written out plainly. */
const reference = (...names: ReadonlyArray<string>): string => {
  const digest = createHash("sha1").update(NAMESPACE).update(names.join("\u0000")).digest()
  digest[6] = (digest[6]! & 0x0f) | 0x50
  digest[8] = (digest[8]! & 0x3f) | 0x80
  const hex = digest.subarray(0, 16).toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

const installation = "7d3f9a52-1b2c-4d5e-8f90-a1b2c3d4e5f6" as Ids.InstallationId

describe("Ids", () => {
  it("derives the ids earlier versions derived", () => {
    assert.strictEqual(
      Ids.conversationIdFor(installation, "conversation-1"),
      "e83baddc-3a26-59c5-8060-b4e189db2ec9"
    )
    assert.strictEqual(Ids.userIdFor(installation, "user ü 🙂"), "e4ddac74-19ce-5c7c-8579-14c5f171c0fe")
    assert.strictEqual(Ids.userMessageIdFor(installation, ""), "536d8ee7-e7f8-5eef-9185-e889f3755a89")
    assert.strictEqual(
      Ids.uuidV5("bot-reply", "0b5c6f0e-8f5e-5a4b-9c1d-2e3f4a5b6c7d", "0"),
      "ee3a6ce0-e9d0-5453-8c51-c17f46e068df"
    )
  })

  it.prop(
    "is RFC 4122's version-5 uuid of the names, for any names",
    [Schema.Array(Schema.String)],
    ([names]) => {
      const id = Ids.uuidV5(...names)
      assert.strictEqual(id, reference(...names))
      assert.isTrue(Schema.is(Ids.ConversationId)(id))
    }
  )
})
