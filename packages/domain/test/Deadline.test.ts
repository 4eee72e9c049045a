import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { withDeadline } from "../src/Deadline.ts"

const late = () => "late" as const

describe("withDeadline", () => {
  it.live("gives the effect's own value or failure when it ends in time", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* withDeadline(Effect.succeed(1), 1_000, late), 1)
      assert.strictEqual(yield* withDeadline(Effect.sleep("5 millis").pipe(Effect.as(2)), 1_000, late), 2)
      const failed = yield* Effect.exit(withDeadline(Effect.fail("own" as const), 1_000, late))
      assert.deepStrictEqual(failed, Exit.fail("own"))
    })
  )

  it.live("fails with the timeout's error once the time is up, and interrupts the effect", () =>
    Effect.gen(function* () {
      const interrupted = yield* Deferred.make<void>()
      const slow = Effect.never.pipe(Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)))
      const exit = yield* Effect.exit(withDeadline(slow, 20, late))
      assert.deepStrictEqual(exit, Exit.fail("late"))
      // The effect was interrupted before the failure was given.
      assert.isTrue(yield* Deferred.isDone(interrupted))
    })
  )

  it.live("an interrupted caller interrupts the effect", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const slow = Deferred.succeed(started, undefined).pipe(
        Effect.andThen(Effect.never),
        Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
      )
      const caller = yield* Effect.forkChild(withDeadline(slow, 60_000, late))
      yield* Deferred.await(started)
      yield* Fiber.interrupt(caller)
      yield* Deferred.await(interrupted).pipe(Effect.timeout("1 second"))
    })
  )
})
