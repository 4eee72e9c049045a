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
  /**
   * Items of one key never share a commit: a later one goes into a following commit, in the
   * order they came (an append after an append to the same stream, a row written once a statement).
   */
  readonly keyOf?: ((item: A) => string) | undefined
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

    /** The batch as commits of distinct keys: the first of each key, then the second, and so on. */
    const rounds = (
      batch: ReadonlyArray<Pending<A, B, E>>
    ): ReadonlyArray<ReadonlyArray<Pending<A, B, E>>> => {
      const keyOf = options.keyOf
      if (keyOf === undefined) return [batch]
      const seen = new Map<string, number>()
      const out: Array<Array<Pending<A, B, E>>> = []
      for (const pending of batch) {
        const key = keyOf(pending.item)
        const round = seen.get(key) ?? 0
        seen.set(key, round + 1)
        const commits = out[round] ?? []
        commits.push(pending)
        out[round] = commits
      }
      return out
    }

    const commitRound = (round: ReadonlyArray<Pending<A, B, E>>) =>
      options.commit(round.map((pending) => pending.item)).pipe(
        Effect.onExit((exit) =>
          Exit.isSuccess(exit)
            ? settle(round, exit.value)
            : settle(
                round,
                round.map(() => Exit.failCause(exit.cause as Cause.Cause<E>))
              )
        ),
        Effect.ignoreCause
      )

    const write = Queue.takeBetween(queue, 1, options.maxBatch).pipe(
      Effect.flatMap((batch) => Effect.forEach(rounds(batch), commitRound, { discard: true }))
    )

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
