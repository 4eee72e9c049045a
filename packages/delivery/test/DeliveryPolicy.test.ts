import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import {
  classifyRequestError,
  classifyStatus,
  nextRetry,
  PermanentFailure,
  parseRetryAfter,
  TransientFailure
} from "../src/DeliveryPolicy.ts"
import { WebhookRequestFailed } from "../src/WebhookClient.ts"

const now = Date.parse("2026-11-25T12:00:00.000Z")
const hour = Duration.hours(1)
const transient = (retryAfterMs: number | null = null) =>
  new TransientFailure({ status: retryAfterMs === null ? 500 : 429, error: "HTTP", retryAfterMs })
const millisOf = (wait: Option.Option<Duration.Duration>) =>
  Option.match(wait, { onNone: () => undefined, onSome: (duration) => Duration.toMillis(duration) })

describe("DeliveryPolicy", () => {
  it("reads Retry-After as seconds or as an HTTP date", () => {
    assert.strictEqual(parseRetryAfter("120", now), 120_000)
    assert.strictEqual(parseRetryAfter(" 0 ", now), 0)
    assert.strictEqual(parseRetryAfter(new Date(now + 30_000).toUTCString(), now), 30_000)
    assert.strictEqual(parseRetryAfter(new Date(now - 30_000).toUTCString(), now), 0)
    assert.isNull(parseRetryAfter("soon", now))
    assert.isNull(parseRetryAfter("-5", now))
    assert.isNull(parseRetryAfter("1.5", now))
    assert.isNull(parseRetryAfter(undefined, now))
  })

  it("classifies answers: 2xx success, other 4xx permanent, the rest transient", () => {
    for (const status of [200, 201, 204, 299]) assert.isUndefined(classifyStatus(status, {}, now))
    for (const status of [400, 401, 403, 404, 410, 413, 422]) {
      assert.instanceOf(classifyStatus(status, {}, now), PermanentFailure, String(status))
    }
    for (const status of [408, 425, 429, 500, 502, 503, 504, 301, 302]) {
      assert.instanceOf(classifyStatus(status, {}, now), TransientFailure, String(status))
    }
    const limited = classifyStatus(429, { "retry-after": "7" }, now)
    assert.strictEqual(limited?._tag === "TransientFailure" ? limited.retryAfterMs : undefined, 7_000)
    const unavailable = classifyStatus(503, { "retry-after": "2" }, now)
    assert.strictEqual(unavailable?._tag === "TransientFailure" ? unavailable.retryAfterMs : undefined, 2_000)
    // Retry-After counts only on 429 and 503.
    const failed = classifyStatus(500, { "retry-after": "7" }, now)
    assert.isNull(failed?._tag === "TransientFailure" ? failed.retryAfterMs : "not transient")
  })

  it("classifies request errors: a bad URL is permanent, timeouts and network errors transient", () => {
    const of = (kind: "invalid_url" | "timeout" | "network") =>
      classifyRequestError(new WebhookRequestFailed({ kind, message: "x" }))._tag
    assert.strictEqual(of("invalid_url"), "PermanentFailure")
    assert.strictEqual(of("timeout"), "TransientFailure")
    assert.strictEqual(of("network"), "TransientFailure")
  })

  it.effect("waits the schedule's next step, jittered by ±20%", () =>
    Effect.gen(function* () {
      const waits = [1_000, 10_000, 100_000]
      const samples: Array<number> = []
      for (let i = 0; i < 200; i++) samples.push(millisOf(yield* nextRetry(waits, 0, transient(), hour))!)
      for (const sample of samples) assert.isTrue(sample >= 800 && sample <= 1_200, String(sample))
      assert.isAbove(new Set(samples).size, 1, "the waits vary")
      const third = millisOf(yield* nextRetry(waits, 2, transient(), hour))!
      assert.isTrue(third >= 80_000 && third <= 120_000, String(third))
    })
  )

  it.effect("gives up when the schedule is used up or the failure is permanent", () =>
    Effect.gen(function* () {
      assert.isTrue(Option.isNone(yield* nextRetry([10, 20], 2, transient(), hour)))
      assert.isTrue(Option.isNone(yield* nextRetry([], 0, transient(), hour)))
      assert.isTrue(Option.isNone(yield* nextRetry([10, 20], 2, transient(5_000), hour)))
      const permanent = new PermanentFailure({ status: 404, error: "HTTP 404" })
      assert.isTrue(Option.isNone(yield* nextRetry([10, 20], 0, permanent, hour)))
    })
  )

  it.effect("waits as Retry-After says, clamped to [min(1 s, first wait), max]", () =>
    Effect.gen(function* () {
      const svix = [5_000, 300_000]
      assert.strictEqual(millisOf(yield* nextRetry(svix, 0, transient(30_000), hour)), 30_000)
      assert.strictEqual(millisOf(yield* nextRetry(svix, 0, transient(0), hour)), 1_000)
      assert.strictEqual(millisOf(yield* nextRetry(svix, 1, transient(36_000_000), hour)), 3_600_000)
      // A millisecond schedule lowers the floor with it.
      assert.strictEqual(millisOf(yield* nextRetry([10, 20], 0, transient(0), hour)), 10)
      assert.strictEqual(millisOf(yield* nextRetry([10, 20], 0, transient(2_000), hour)), 2_000)
    })
  )
})
