import { assert, describe, it } from "@effect/vitest"
import { Effect, References, Tracer } from "effect"
import { traceparent } from "../src/WebhookClient.ts"

// The `traceparent` a bot or delivery POST carries: W3C trace context naming the span it continues.

const origin = Tracer.externalSpan({
  traceId: "0af7651916cd43dd8448eb211c80319c",
  spanId: "b7ad6b7169203331",
  sampled: false
})

describe("traceparent", () => {
  it.effect("names a recorded span, sampled", () =>
    Effect.gen(function* () {
      const span = yield* Effect.currentSpan.pipe(Effect.withSpan("Test.post"))
      assert.strictEqual(traceparent(span), `00-${span.traceId}-${span.spanId}-01`)
    })
  )

  it("names an origin from outside as it is", () => {
    assert.strictEqual(traceparent(origin), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
  })

  it.effect("names the nearest real ancestor of a placeholder span, or nothing when there is none", () =>
    Effect.gen(function* () {
      const placeholder = yield* Effect.currentSpan.pipe(
        Effect.withSpan("Test.placeholder"),
        Effect.withParentSpan(origin),
        Effect.provideService(References.TracerEnabled, false)
      )
      assert.strictEqual(placeholder.traceId, "noop")
      assert.strictEqual(traceparent(placeholder), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
      const alone = yield* Effect.currentSpan.pipe(
        Effect.withSpan("Test.alone"),
        Effect.provideService(References.TracerEnabled, false)
      )
      assert.isUndefined(traceparent(alone))
    })
  )
})
