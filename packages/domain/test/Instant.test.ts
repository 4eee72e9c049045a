import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { RecordDeliveryAttempt } from "../src/ConversationCommands.ts"
import { ConversationEvent } from "../src/ConversationEvents.ts"
import { Instant, InstantFromDate } from "../src/Instant.ts"

const isInstant = Schema.is(Instant)
const messageId = "00000000-0000-4000-8000-000000000001"

describe("Instant", () => {
  it("accepts what the service writes (toISOString, DateTime.formatIso) and offsets", () => {
    assert.isTrue(isInstant(new Date(0).toISOString()))
    assert.isTrue(isInstant("2026-11-25T12:00:00.000Z"))
    assert.isTrue(isInstant("2026-11-25T12:00:00Z"))
    assert.isTrue(isInstant("2026-11-25T13:00:00.123456+01:00"))
  })

  it("refuses what is not an ISO-8601 instant", () => {
    assert.isFalse(isInstant(""))
    assert.isFalse(isInstant("t"))
    assert.isFalse(isInstant("2026-11-25"))
    assert.isFalse(isInstant("Wed, 25 Nov 2026 12:00:00 GMT"))
    assert.isFalse(isInstant("2026-13-45T12:00:00Z"))
  })

  it("is checked where a command crosses a boundary", () => {
    const decode = Schema.decodeUnknownExit(RecordDeliveryAttempt)
    const command = {
      _tag: "RecordDeliveryAttempt",
      messageId,
      outcome: { _tag: "Delivered", status: 200 },
      durationMs: 5
    }
    assert.isTrue(decode({ ...command, at: "2026-11-25T12:00:00.000Z" })._tag === "Success")
    assert.isTrue(decode({ ...command, at: "yesterday" })._tag === "Failure")
  })

  it("is read from the log as written, even when it is not a time", () => {
    const event = Schema.decodeUnknownSync(ConversationEvent)({
      _tag: "RedeliveryRequested",
      messageId,
      requestedAt: "not a time"
    })
    assert.strictEqual(event._tag === "RedeliveryRequested" && event.requestedAt, "not a time")
  })

  it("reads a timestamptz column as the ISO instant the API shows", () => {
    const date = new Date("2026-11-25T12:00:00.123Z")
    assert.strictEqual(Schema.decodeUnknownSync(InstantFromDate)(date), "2026-11-25T12:00:00.123Z")
    assert.isTrue(Schema.decodeUnknownExit(InstantFromDate)("2026-11-25T12:00:00.123Z")._tag === "Failure")
  })
})
