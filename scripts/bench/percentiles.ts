/** Latency summaries: nearest-rank percentiles over all samples (no histogram bucketing). */

export interface LatencySummary {
  readonly count: number
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly mean: number
}

const round = (value: number) => Math.round(value * 100) / 100

export const percentile = (sorted: ArrayLike<number>, p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!

export const summarize = (samples: ReadonlyArray<number>): LatencySummary => {
  const sorted = Float64Array.from(samples).sort()
  let total = 0
  for (const value of sorted) total += value
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 0.5)),
    p99: round(percentile(sorted, 0.99)),
    p999: round(percentile(sorted, 0.999)),
    max: round(sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!),
    mean: round(sorted.length === 0 ? Number.NaN : total / sorted.length)
  }
}

/**
 * p50/p99 of each half second's worth of samples (`rate / 2` at a time, in arrival order) at a
 * paced rate: where in a run its tail comes from.
 */
export const byHalfSecond = (samples: ReadonlyArray<number>, rate: number): string => {
  const halves: Array<string> = []
  const size = Math.max(1, Math.round(rate / 2))
  for (let from = 0; from < samples.length; from += size) {
    const half = summarize(samples.slice(from, from + size))
    halves.push(`${half.p50}/${half.p99}`)
  }
  return halves.join(" ")
}
