import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, References, Tracer } from "effect"
import { continuingTrace, hotSpan } from "../src/Tracing.ts"

// The per-message path's spans exist only while traces are recorded (`References.TracerEnabled`):
// otherwise the effect runs as it is, with no span in its context.

const parentName = Effect.map(Effect.serviceOption(Tracer.ParentSpan), (span) =>
  Option.match(span, {
    onNone: () => undefined,
    onSome: (each) => (each._tag === "Span" ? each.name : "external")
  })
)

describe("hotSpan", () => {
  it.effect("runs the effect in a span of its name, with its attributes, while traces are recorded", () =>
    Effect.gen(function* () {
      const inside = yield* Effect.currentSpan.pipe(
        hotSpan("Test.step", { attributes: { conversationId: "c-1" } })
      )
      assert.strictEqual(inside.name, "Test.step")
      assert.strictEqual(inside.attributes.get("conversationId"), "c-1")
      assert.strictEqual(yield* parentName.pipe(hotSpan("Test.step")), "Test.step")
    })
  )

  it.effect("runs the effect as it is, with no span, when traces are not recorded", () =>
    Effect.gen(function* () {
      assert.isUndefined(yield* parentName.pipe(hotSpan("Test.step")))
      // A span around it (effect's placeholder while not recording) stays the parent: nothing is added.
      const outer = yield* parentName.pipe(hotSpan("Test.inner"), Effect.withSpan("Test.outer"))
      assert.strictEqual(outer, "Test.outer")
    }).pipe(Effect.provideService(References.TracerEnabled, false))
  )

  it.effect("keeps the effect's failure and its value either way", () =>
    Effect.gen(function* () {
      for (const enabled of [true, false]) {
        const value = yield* Effect.succeed(42).pipe(
          hotSpan("Test.value"),
          Effect.provideService(References.TracerEnabled, enabled)
        )
        assert.strictEqual(value, 42)
        const failure = yield* Effect.fail("refused").pipe(
          hotSpan("Test.failure"),
          Effect.provideService(References.TracerEnabled, enabled),
          Effect.flip
        )
        assert.strictEqual(failure, "refused")
      }
    })
  )
})

describe("continuingTrace", () => {
  it.effect("makes the given span the parent while traces are recorded, and changes nothing otherwise", () =>
    Effect.gen(function* () {
      const origin = Tracer.externalSpan({
        traceId: "0af7651916cd43dd8448eb211c80319c",
        spanId: "b7ad6b7169203331"
      })
      assert.strictEqual(yield* continuingTrace(parentName, origin), "external")
      assert.isUndefined(
        yield* continuingTrace(parentName, origin).pipe(
          Effect.provideService(References.TracerEnabled, false)
        )
      )
    })
  )
})
