import { type Cause, Deferred, Effect, Exit, Queue, type Scope } from "effect"

/**
 * Group commit: callers from any fiber hand in one item each and wait for its own result; a few
 * writer fibers take whatever has queued up (`Queue.takeBetween`) and commit it in one round trip.
 * While a writer waits on the database the queue fills, so under load each commit carries many
 * items and the number of commits per item falls far below one; when idle an item goes out at
 * once (no timer, no added latency).
 *
 * `commit` answers with one `Exit` per item, in order, so one item's failure never fails its
 * neighbours. A defect or interruption of `commit` itself reaches every item of that batch.
 */

export interface GroupCommitOptions<A, B, E> {
  /** Most items one commit takes. */
  readonly maxBatch: number
  /** Commits in flight at once (each holds a database connection while it runs). */
  readonly writers: number
  readonly commit: (items: ReadonlyArray<A>) => Effect.Effect<ReadonlyArray<Exit.Exit<B, E>>>
}

interface Pending<A, B, E> {
  readonly item: A
  readonly result: Deferred.Deferred<B, E>
}

/** Starts the writers (for as long as the scope lives) and returns the submit function. */
export const make = <A, B, E>(
  options: GroupCommitOptions<A, B, E>
): Effect.Effect<(item: A) => Effect.Effect<B, E>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Pending<A, B, E>>()

    const settle = (batch: ReadonlyArray<Pending<A, B, E>>, exits: ReadonlyArray<Exit.Exit<B, E>>) =>
      Effect.sync(() => {
        batch.forEach((pending, i) => {
          Deferred.doneUnsafe(pending.result, exits[i] ?? Exit.die(new Error("group commit: no result")))
        })
      })

    const write = Effect.gen(function* () {
      const batch = yield* Queue.takeBetween(queue, 1, options.maxBatch)
      yield* options.commit(batch.map((pending) => pending.item)).pipe(
        Effect.onExit((exit) =>
          Exit.isSuccess(exit)
            ? settle(batch, exit.value)
            : settle(
                batch,
                batch.map(() => Exit.failCause(exit.cause as Cause.Cause<E>))
              )
        ),
        Effect.ignoreCause
      )
    })

    for (let i = 0; i < options.writers; i++) {
      yield* Effect.forever(write).pipe(Effect.forkScoped)
    }
    // Whatever is still queued when the scope closes is answered, not left waiting.
    yield* Effect.addFinalizer(() =>
      Queue.clear(queue).pipe(
        Effect.flatMap((left) =>
          settle(
            left,
            left.map(() => Exit.interrupt())
          )
        ),
        Effect.andThen(Queue.shutdown(queue)),
        Effect.ignore
      )
    )

    return (item: A): Effect.Effect<B, E> =>
      Effect.suspend(() => {
        const result = Deferred.makeUnsafe<B, E>()
        if (!Queue.offerUnsafe(queue, { item, result })) return Effect.interrupt
        return Deferred.await(result)
      })
  })
