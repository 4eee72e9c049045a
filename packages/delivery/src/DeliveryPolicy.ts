import type { RetrySchedule } from "@messaging-api/domain/RetrySchedule"
import { Duration, Effect, Option, Pull, Schedule, Schema } from "effect"
import type { WebhookRequestFailed } from "./WebhookClient.ts"

/**
 * What one failed attempt means and when to try again.
 * - Transient (network error, timeout, 408, 425, 429, 5xx and other non-2xx that are not 4xx):
 *   wait along the installation's schedule, jittered ±20%.
 * - Rate limited (429/503 with Retry-After): wait as told, clamped to
 *   [min(1 s, the schedule's first wait), maxRetryAfter]. The lower bound follows the schedule
 *   down so that a millisecond schedule (tests) is not slowed to seconds by "Retry-After: 0".
 *   A rate-limited attempt still uses up one step of the schedule, so a receiver cannot keep a
 *   message alive for ever.
 * - Permanent (any other 4xx, a URL that is not http(s)): dead-letter at once.
 * - Schedule used up: dead-letter.
 * The schedule is an Effect `Schedule` over the remaining waits; only the number of attempts
 * made is stored (in the log), so the next wait after a restart is the same step.
 */

export class TransientFailure extends Schema.TaggedError<TransientFailure>()("TransientFailure", {
  status: Schema.NullOr(Schema.Int),
  error: Schema.String,
  /** What the receiver's Retry-After asked for, in milliseconds (429/503 only). */
  retryAfterMs: Schema.NullOr(Schema.Finite)
}) {}

export class PermanentFailure extends Schema.TaggedError<PermanentFailure>()("PermanentFailure", {
  status: Schema.NullOr(Schema.Int),
  error: Schema.String
}) {}

export type AttemptFailure = TransientFailure | PermanentFailure

/** A failure with no answer behind it (no status, no Retry-After). */
export const transientFailure = (error: string): TransientFailure =>
  new TransientFailure({ status: null, error, retryAfterMs: null })
export const permanentFailure = (error: string): PermanentFailure =>
  new PermanentFailure({ status: null, error })

/** The same failure, described as `error`. */
export const describedAs = (failure: AttemptFailure, error: string): AttemptFailure =>
  failure._tag === "TransientFailure"
    ? new TransientFailure({ status: failure.status, error, retryAfterMs: failure.retryAfterMs })
    : new PermanentFailure({ status: failure.status, error })

/** Retry-After as delta-seconds or an HTTP date, in milliseconds from `now`; null when absent or unreadable. */
export const parseRetryAfter = (value: string | undefined, now: number): number | null => {
  if (value === undefined) return null
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  if (!/[a-z]/i.test(trimmed)) return null
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? null : Math.max(0, date - now)
}

const transientStatuses: ReadonlySet<number> = new Set([408, 425, 429])

/** Undefined for a success (2xx). */
export const classifyStatus = (
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  now: number
): AttemptFailure | undefined => {
  if (status >= 200 && status < 300) return undefined
  const error = `HTTP ${status}`
  if (status >= 400 && status < 500 && !transientStatuses.has(status)) {
    return new PermanentFailure({ status, error })
  }
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(headers["retry-after"], now) : null
  return new TransientFailure({ status, error, retryAfterMs })
}

export const classifyRequestError = (failure: WebhookRequestFailed): AttemptFailure =>
  failure.kind === "invalid_url"
    ? permanentFailure(`invalid URL: ${failure.message}`)
    : transientFailure(`${failure.kind}: ${failure.message}`)

export interface RetryAfterBounds {
  readonly min: Duration.Duration
  readonly max: Duration.Duration
}

/** The lower Retry-After bound for a schedule: 1 s, or its first wait when that is shorter. */
export const retryAfterFloor = (waits: RetrySchedule): Duration.Duration =>
  Duration.millis(Math.min(1000, waits[0] ?? 1000))

/**
 * The retry schedule over some waits (milliseconds): each step waits the next one, jittered;
 * it stops at a permanent failure or when the waits are used up; Retry-After replaces the wait.
 */
export const retrySchedule = (
  waits: ReadonlyArray<number>,
  retryAfter: RetryAfterBounds
): Schedule.Schedule<number, AttemptFailure> =>
  Schedule.recurs(waits.length).pipe(
    Schedule.modifyDelay(({ output }) => Effect.succeed(Duration.millis(waits[output] ?? 0))),
    Schedule.jittered,
    Schedule.setInputType<AttemptFailure>(),
    Schedule.while(({ input }) => input._tag === "TransientFailure"),
    Schedule.modifyDelay(({ input, duration }) =>
      Effect.succeed(
        input._tag === "TransientFailure" && input.retryAfterMs !== null
          ? Duration.clamp(Duration.millis(input.retryAfterMs), {
              minimum: retryAfter.min,
              maximum: retryAfter.max
            })
          : duration
      )
    )
  )

/**
 * After the attempt numbered `attemptsBefore + 1` failed: how long to wait before the next one,
 * or none (dead-letter / give up).
 */
export const nextRetry = (
  waits: RetrySchedule,
  attemptsBefore: number,
  failure: AttemptFailure,
  maxRetryAfter: Duration.Duration
): Effect.Effect<Option.Option<Duration.Duration>> =>
  Effect.gen(function* () {
    const step = yield* Schedule.toStep(
      retrySchedule(waits.slice(attemptsBefore), { min: retryAfterFloor(waits), max: maxRetryAfter })
    )
    const now = Date.now()
    return yield* step(now, failure).pipe(
      Effect.map(([, delay]) => Option.some(delay)),
      Pull.catchDone(() => Effect.succeed(Option.none<Duration.Duration>()))
    )
  })
