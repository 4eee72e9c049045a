import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, References, Tracer } from "effect"
import { continuingTrace, hotSpan, traceOrigin } from "../src/Tracing.ts"

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
  const origin = Tracer.externalSpan({
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331"
  })

  it.effect("makes the given span the parent while traces are recorded", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* continuingTrace(parentName, origin), "external")
      const inner = yield* Effect.currentSpan.pipe(Effect.withSpan("Test.inner"))
      assert.strictEqual(yield* continuingTrace(parentName, inner), "Test.inner")
    })
  )

  it.effect("while traces are not recorded, continues an origin from outside and adds no span of ours", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* continuingTrace(parentName, origin), "external")
      const placeholder = yield* Effect.currentSpan.pipe(Effect.withSpan("Test.placeholder"))
      assert.isUndefined(yield* continuingTrace(parentName, placeholder))
    }).pipe(Effect.provideService(References.TracerEnabled, false))
  )
})

describe("traceOrigin", () => {
  it.effect("is the current span, or none while traces are recorded and there is none", () =>
    Effect.gen(function* () {
      assert.isTrue(Option.isNone(yield* traceOrigin))
      const named = yield* Effect.map(
        traceOrigin,
        Option.map((span) => (span._tag === "Span" ? span.name : ""))
      ).pipe(Effect.withSpan("Test.request"))
      assert.deepStrictEqual(named, Option.some("Test.request"))
    })
  )

  it.effect("while traces are not recorded, starts a trace of its own for each message, not sampled", () =>
    Effect.gen(function* () {
      const first = Option.getOrThrow(yield* traceOrigin)
      const second = Option.getOrThrow(yield* traceOrigin)
      assert.strictEqual(first._tag, "ExternalSpan")
      assert.match(first.traceId, /^[0-9a-f]{32}$/)
      assert.match(first.spanId, /^[0-9a-f]{16}$/)
      assert.isFalse(first.sampled)
      assert.notStrictEqual(first.traceId, second.traceId)
      // A placeholder span (an `Effect.fn`'s, while not recording) is no trace to continue.
      const underPlaceholder = yield* traceOrigin.pipe(Effect.withSpan("Test.placeholder"))
      assert.strictEqual(Option.getOrThrow(underPlaceholder)._tag, "ExternalSpan")
      // The origin a piece of work already continues is kept.
      const kept = yield* continuingTrace(traceOrigin, first)
      assert.strictEqual(Option.getOrThrow(kept).traceId, first.traceId)
    }).pipe(Effect.provideService(References.TracerEnabled, false))
  )
})
