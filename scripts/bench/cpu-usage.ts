import { readdirSync, readFileSync } from "node:fs"

/**
 * CPU time spent by the processes of a measurement, read from /proc: the server under test, every
 * Postgres process (the backends serving its pool included), and the bench process itself (load
 * generator and receiver). Divided by the messages handled, it says which process a message
 * costs the most in.
 */

const TICKS_PER_SECOND = 100

const cpuSecondsOf = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return 0
  }
}

const postgresPids = (): Array<number> =>
  readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres"
      } catch {
        return false
      }
    })

export interface CpuSnapshot {
  readonly server: number
  readonly postgres: number
  readonly bench: number
}

export const cpuSnapshot = (serverPid: number): CpuSnapshot => ({
  server: cpuSecondsOf(serverPid),
  postgres: postgresPids().reduce((total, pid) => total + cpuSecondsOf(pid), 0),
  bench: (process.cpuUsage().user + process.cpuUsage().system) / 1e6
})

/** CPU milliseconds per message in each process between two snapshots. */
export const cpuPerMessage = (before: CpuSnapshot, after: CpuSnapshot, messages: number) => {
  const per = (key: keyof CpuSnapshot) =>
    Math.round(((after[key] - before[key]) * 1000 * 100) / messages) / 100
  return { serverMs: per("server"), postgresMs: per("postgres"), benchMs: per("bench") }
}

/**
 * Waits until a process has used less than `share` of a core over a whole second (background work
 * such as projections catching up after a load step has finished), or `timeoutMs` passes.
 * Returns the milliseconds waited.
 */
export const waitForQuiet = async (pid: number, timeoutMs: number, share = 0.15): Promise<number> => {
  const start = Date.now()
  let before = cpuSecondsOf(pid)
  while (Date.now() - start < timeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const now = cpuSecondsOf(pid)
    if (now - before < share) break
    before = now
  }
  return Date.now() - start
}
