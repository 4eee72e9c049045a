import { Deferred, Effect, Exit, Option, Queue, type Scope } from "effect"
import { hashMatches, sha256, tokenIdOf } from "./TokenSecrets.ts"

/**
 * The live tokens authentication reads: a copy kept in memory, by id, reloaded every `cacheTtl`
 * (a token revoked by another process is refused within a second). A presented token that the copy
 * does not accept waits for one fresh reload before it is refused, so a token another process just
 * created works at once. Unknown ids and known ones with a wrong secret take exactly that same
 * path (a hash, a constant-time comparison, a wait for a reload shared by every refusal in flight,
 * at most one per `RELOAD_SPACING`): timing tells a caller nothing, and a flood of bad tokens
 * costs the database a bounded number of reads rather than one each.
 */

export const cacheTtl = "500 millis"

/** The shortest time between two reloads asked for by refused tokens. */
export const RELOAD_SPACING = "50 millis"

/** A live token as authentication sees it: the token and its hash, decoded once per reload. */
export interface LiveToken<A> {
  readonly token: A
  readonly hash: Uint8Array
}

export interface LiveTokens<A, E> {
  /** The token a presented string belongs to in the copy: the same work whether its id is known or not. */
  readonly accepted: (token: string) => A | undefined
  /** Waits for a reload that starts after this is asked. */
  readonly fresh: Effect.Effect<void>
  /** Reloads the copy now. */
  readonly reload: Effect.Effect<void, E>
  /** What this process changed itself, in the copy at once (others see it at their next reload). */
  readonly set: (id: string, token: LiveToken<A>) => void
  readonly delete: (id: string) => void
}

/**
 * The copy, loaded now, then by one fiber for as long as the scope lives: every `cacheTtl`, or
 * sooner for refused tokens waiting on a fresh copy. A failed reload keeps the copy it has.
 */
export const make = <A, E>(
  load: Effect.Effect<ReadonlyArray<readonly [id: string, token: LiveToken<A>]>, E>
): Effect.Effect<LiveTokens<A, E>, E, Scope.Scope> =>
  Effect.gen(function* () {
    let live = new Map<string, LiveToken<A>>()
    const reload = load.pipe(
      Effect.map((tokens) => {
        live = new Map(tokens)
        return live.size
      }),
      Effect.asVoid
    )
    yield* reload
    const waiting = yield* Queue.unbounded<Deferred.Deferred<void>>()
    yield* Effect.gen(function* () {
      const waiters = yield* Queue.takeAll(waiting).pipe(Effect.timeoutOption(cacheTtl))
      yield* reload.pipe(
        Effect.catch((error) =>
          Effect.logWarning("access tokens: reloading failed; keeping the last copy", error)
        )
      )
      if (Option.isSome(waiters)) {
        for (const waiter of waiters.value) Deferred.doneUnsafe(waiter, Exit.void)
        yield* Effect.sleep(RELOAD_SPACING)
      }
    }).pipe(Effect.forever, Effect.forkScoped)

    const fresh = Effect.gen(function* () {
      const waiter = yield* Deferred.make<void>()
      yield* Queue.offer(waiting, waiter)
      yield* Deferred.await(waiter)
    })

    const accepted = (token: string): A | undefined => {
      const digest = sha256(token)
      const found = live.get(tokenIdOf(token, digest))
      return hashMatches(found?.hash, digest) ? found!.token : undefined
    }

    return {
      accepted,
      fresh,
      reload,
      set: (id, token) => {
        live.set(id, token)
      },
      delete: (id) => {
        live.delete(id)
      }
    }
  })
