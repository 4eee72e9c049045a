/**
 * The service as users feel it, measured side by side with bare baselines in the same run:
 *   npm run bench                       # everything (a few minutes on 2 cores)
 *   npm run bench -- --quick            # small numbers: checks the harness, not figures of record
 *   npm run bench -- --only inbound,e2e # a subset: inbound, e2e, delivery, memory, replay, recovery, cluster
 *   npm run bench -- --cpu-prof         # each service process writes a CPU profile (summarised at the end)
 *   npm run bench -- --out results.json # write the JSON somewhere else
 * Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) to create a database
 * per measurement, dropped afterwards. Prints one table and writes bench/results/latest.json;
 * a --quick or --only run writes to the temp directory instead, keeping the figures of record.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import type { BenchContext } from "./bench/bench-context.ts"
import { dropAbandonedDatabases, postgresVersion } from "./bench/bench-database.ts"
import { measureCluster } from "./bench/cluster.ts"
import { summarizeProfiles } from "./bench/cpu-profile-summary.ts"
import { measureDelivery } from "./bench/delivery.ts"
import { measureEndToEnd } from "./bench/end-to-end.ts"
import { measureInbound } from "./bench/inbound.ts"
import { measureMemory } from "./bench/memory.ts"
import { measureRecovery } from "./bench/recovery.ts"
import { measureReplay } from "./bench/replay.ts"
import { describeMachine, type Figure, table, writeResults } from "./bench/report.ts"

const measurements = {
  inbound: measureInbound,
  e2e: measureEndToEnd,
  delivery: measureDelivery,
  memory: measureMemory,
  replay: measureReplay,
  recovery: measureRecovery,
  cluster: measureCluster
} as const
type Measurement = keyof typeof measurements
const names = Object.keys(measurements) as Array<Measurement>

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    quick: { type: "boolean", default: false },
    "cpu-prof": { type: "boolean", default: false },
    "cpu-prof-dir": { type: "string" },
    out: { type: "string" }
  }
})

const selected = values.only === undefined ? names : values.only.split(",").map((name) => name.trim())
const unknown = selected.filter((name) => !names.includes(name as Measurement))
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown measurement ${unknown.join(", ")} (known: ${names.join(", ")})\n`)
  process.exit(2)
}

const cpuProfDir =
  values["cpu-prof-dir"] ??
  (values["cpu-prof"] ? mkdtempSync(join(tmpdir(), "messaging-api-bench-profiles-")) : undefined)

const started = Date.now()
const context: BenchContext = {
  quick: values.quick,
  cpuProfDir,
  log: (line) =>
    process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`)
}

// Interrupted: exit, so that the child processes are killed (service-process.ts).
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130))

for (const name of await dropAbandonedDatabases()) context.log(`dropped ${name}, left by an interrupted run`)
const machine = describeMachine(await postgresVersion())
const time = new Date().toISOString()
context.log(
  `${machine.cpus} × ${machine.model}, ${machine.memory}, node ${machine.node}, postgres ${machine.postgres}`
)

const results: Record<string, Figure> = {}
for (const name of selected as Array<Measurement>) {
  try {
    Object.assign(results, await measurements[name](context))
  } catch (error) {
    context.log(`${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    results[name] = {
      figure: null,
      unit: "",
      target: null,
      met: false,
      note: `the measurement failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`
    }
  }
}

const ofRecord = !values.quick && values.only === undefined
const path =
  values.out ??
  (ofRecord
    ? join(import.meta.dirname, "..", "bench", "results", "latest.json")
    : join(tmpdir(), "messaging-api-bench-partial.json"))
writeResults(path, {
  machine,
  time,
  options: {
    quick: values.quick,
    only: selected,
    durationSeconds: Math.round((Date.now() - started) / 1000)
  },
  results
})

process.stdout.write(`\n${table(results)}\n\nwritten to ${path}\n`)
if (cpuProfDir !== undefined) process.stdout.write(`\n${summarizeProfiles(cpuProfDir)}\n`)
