import { Context, Effect, Latch, Layer } from "effect"

/**
 * Whether the outbound half is shutting down. Once draining, work loops start no new bot turn or
 * delivery attempt; the ones in flight get `drainTimeout` to finish before they are interrupted
 * (an interrupted attempt records nothing and is tried again after the restart).
 */
export class Draining extends Context.Service<
  Draining,
  {
    readonly isDraining: () => boolean
    /** Resolves once draining has begun. */
    readonly started: Effect.Effect<void>
    readonly start: Effect.Effect<void>
  }
>()("@messaging-api/delivery/Draining") {
  static readonly layer = Layer.sync(Draining, () => {
    const latch = Latch.makeUnsafe(false)
    let draining = false
    return Draining.of({
      isDraining: () => draining,
      started: latch.await,
      start: Effect.sync(() => {
        draining = true
        latch.openUnsafe()
      })
    })
  })
}
