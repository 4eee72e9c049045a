import { Effect } from "effect"

/**
 * A preload (`node --import scripts/bench/effect-steps.ts …`) that counts what the effect runtime
 * does in this process: the primitive steps its fibers' run loops take, and the fibers made. Both
 * are counts, not times, so they tell two versions of a code path apart where CPU figures on a
 * noisy machine cannot. `steady-load.ts STEPS=1` starts the service with it and reads the counts
 * through the inspector (`globalThis.effectSteps()`) before and after each run.
 */

interface Counted {
  runLoop(this: Counted, effect: unknown): unknown
  readonly currentOpCount: number
}

let steps = 0
const probe = Effect.runFork(Effect.void)
const fiberPrototype = Object.getPrototypeOf(probe) as Counted
const runLoop = fiberPrototype.runLoop
fiberPrototype.runLoop = function (this: Counted, effect: unknown) {
  const exit = runLoop.call(this, effect)
  steps += this.currentOpCount
  return exit
}

// Fiber ids come from one counter: a new fiber's id is the number made so far.
;(globalThis as { effectSteps?: () => { steps: number; fibers: number } }).effectSteps = () => ({
  steps,
  fibers: Effect.runFork(Effect.void).id
})
