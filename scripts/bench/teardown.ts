/**
 * What a measurement has started (databases, receivers, service processes, timers), each with how
 * to stop it. The measurement registers each thing as soon as it is started and runs the teardown
 * in its `finally`: whatever step throws, nothing is left running. A child process or a server
 * left behind would keep the bench's event loop alive, so `npm run bench` would hang instead of
 * reporting the failure.
 */
export interface Teardown {
  /** Registers how to stop what was just started, and hands it back. */
  readonly add: <A>(started: A, stop: (started: A) => unknown) => A
  /**
   * Stops everything registered, newest first (a service before the database it uses). Every stop
   * runs even when one fails; then the first failure is thrown.
   */
  readonly run: () => Promise<void>
}

export const teardown = (): Teardown => {
  const stops: Array<() => unknown> = []
  return {
    add: (started, stop) => {
      stops.push(() => stop(started))
      return started
    },
    run: async () => {
      // Reported, not thrown: thrown from a `finally`, it would replace the measurement's own error.
      for (const stop of stops.splice(0).reverse()) {
        try {
          await stop()
        } catch (error) {
          console.error("bench: could not stop what a measurement started:", error)
        }
      }
    }
  }
}
