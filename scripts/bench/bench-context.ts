import { join } from "node:path"

/** What every measurement is given: the run's options and where to say what it is doing. */
export interface BenchContext {
  /** Small numbers: checks that the harness works; not the figures of record. */
  readonly quick: boolean
  /** When set, each service process runs with `--cpu-prof` and writes its profile under here. */
  readonly cpuProfDir: string | undefined
  readonly log: (line: string) => void
}

/** The profile directory of one measurement's service process, if profiling. */
export const profileDir = (context: BenchContext, measurement: string): string | undefined =>
  context.cpuProfDir === undefined ? undefined : join(context.cpuProfDir, measurement)
