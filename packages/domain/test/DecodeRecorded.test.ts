import { assert, describe, it } from "@effect/vitest"
import { Equal, Result, Schema } from "effect"
import { ConversationEvent, MessageDelivered } from "../src/ConversationEvents.ts"
import { decodeRecorded, toNewEvent } from "../src/ConversationStream.ts"

/**
 * `decodeRecorded` checks an event's data with the struct of its class's fields and makes the
 * instance itself: what it gives must be what the class schemas' own decode gives, for every event
 * type, and what they refuse it must refuse.
 */

const decodeWithClasses = Schema.decodeUnknownResult(ConversationEvent)
const encode = Schema.encodeSync(ConversationEvent)

/** An event as it comes back from the log: its type, and its data after a trip through jsonb. */
const stored = (event: ConversationEvent) => {
  const { type, data } = toNewEvent(event, "event-id")
  return { streamId: "conversation-x", version: 1, type, data: JSON.parse(JSON.stringify(data)) as unknown }
}

describe("ConversationStream.decodeRecorded", () => {
  it.prop(
    "gives what the class schemas' decode gives, for any event of any type",
    [ConversationEvent],
    ([event]) => {
      const recorded = stored(event)
      const expected = Result.getOrThrow(
        decodeWithClasses({ ...(recorded.data as object), _tag: recorded.type })
      )
      const decoded = Result.getOrThrow(decodeRecorded(recorded))
      assert.deepStrictEqual(decoded, expected)
      assert.strictEqual(Object.getPrototypeOf(decoded), Object.getPrototypeOf(expected))
      assert.isTrue(Equal.equals(decoded, expected))
      assert.deepStrictEqual(encode(decoded), encode(expected))
    }
  )

  it("refuses what the class schemas refuse, checks included", () => {
    const delivered = stored(
      new MessageDelivered({
        messageId: "6d0c3a52-3d0e-4d7e-9b4c-0b5a1c2d3e4f" as MessageDelivered["messageId"],
        attempt: 1,
        status: 200,
        durationMs: 4,
        deliveredAt: "2026-11-25T12:00:00.000Z"
      })
    )
    const cases: ReadonlyArray<Readonly<Record<string, unknown>>> = [
      { messageId: "not-a-uuid" },
      { attempt: 1.5 },
      { status: "200" },
      { deliveredAt: undefined }
    ]
    for (const change of cases) {
      const data = { ...(delivered.data as object), ...change }
      assert.isTrue(Result.isFailure(decodeWithClasses({ ...data, _tag: delivered.type })))
      const decoded = decodeRecorded({ ...delivered, data })
      assert.isTrue(Result.isFailure(decoded))
      if (Result.isFailure(decoded)) assert.strictEqual(decoded.failure._tag, "MalformedEvent")
    }
    const unknown = decodeRecorded({ ...delivered, type: "SomethingFromTheFuture" })
    assert.isTrue(Result.isFailure(unknown) && unknown.failure._tag === "UnknownEventType")
  })
})
