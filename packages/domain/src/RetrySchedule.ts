import { Schema } from "effect"

/**
 * A delivery retry schedule: the waits after the first try, in milliseconds. After the last wait
 * is used up the message is dead-lettered. Written as `1s,5s,30s` on the command line.
 */
export const RetrySchedule = Schema.Array(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)))
export type RetrySchedule = typeof RetrySchedule.Type

/** A schedule given by a caller has 1 to this many waits. */
export const MAX_STEPS = 20

/** No wait is longer than a day. */
export const MAX_WAIT_MS = 24 * 60 * 60 * 1000

/**
 * Why a caller's schedule is refused, or undefined: 1 to `MAX_STEPS` waits, each between the
 * configured minimum (`MIN_RETRY_DELAY`) and `MAX_WAIT_MS`. (Stored installations are read as
 * they are; the bounds hold for what is created.)
 */
export const scheduleProblem = (schedule: RetrySchedule, minWaitMs: number): string | undefined => {
  if (schedule.length < 1 || schedule.length > MAX_STEPS) {
    return `must have 1 to ${MAX_STEPS} waits, not ${schedule.length}`
  }
  const outside = schedule.findIndex((wait) => wait < minWaitMs || wait > MAX_WAIT_MS)
  if (outside >= 0) {
    return `wait ${outside + 1} (${schedule[outside]} ms) must be between ${minWaitMs} ms and 24 h`
  }
  return undefined
}

/** The Standard Webhooks / Svix schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const defaultRetrySchedule: RetrySchedule = [
  5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000
]

const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

export class InvalidRetrySchedule extends Schema.TaggedError<InvalidRetrySchedule>()("InvalidRetrySchedule", {
  input: Schema.String,
  message: Schema.String
}) {}

/** Parses `1s,5s,30s` (units ms, s, m, h, d); an empty string means "no retries". */
export const parseRetrySchedule = (input: string): RetrySchedule | InvalidRetrySchedule => {
  const trimmed = input.trim()
  if (trimmed === "") return []
  const waits: Array<number> = []
  for (const part of trimmed.split(",")) {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(part)
    if (match === null) {
      return new InvalidRetrySchedule({
        input,
        message: `"${part.trim()}" is not a duration like 500ms, 5s, 5m, 2h or 1d`
      })
    }
    waits.push(Math.round(Number(match[1]) * units[match[2]!]!))
  }
  return waits
}

export const formatRetrySchedule = (schedule: RetrySchedule): string =>
  schedule
    .map((ms) =>
      ms % 3_600_000 === 0 && ms > 0
        ? `${ms / 3_600_000}h`
        : ms % 60_000 === 0 && ms > 0
          ? `${ms / 60_000}m`
          : ms % 1_000 === 0
            ? `${ms / 1_000}s`
            : `${ms}ms`
    )
    .join(",")
