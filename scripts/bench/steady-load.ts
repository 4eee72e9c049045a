import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { query } from "../postgres-databases.ts"
import { createBenchDatabase } from "./bench-database.ts"
import { cpuPerMessage, cpuSnapshot, waitForQuiet } from "./cpu-usage.ts"
import { readEffectSteps, readPauseMonitor, session, startPauseMonitor } from "./inspector-probe.ts"
import { createEchoInstallation } from "./installation-setup.ts"
import { sendPaced } from "./message-sender.ts"
import { byHalfSecond, type LatencySummary, summarize } from "./percentiles.ts"
import { startReceiver } from "./receiver.ts"
import { startService, waitUntil } from "./service-process.ts"
import { teardown } from "./teardown.ts"

/**
 * What one message costs at a steady, moderate rate, where `--only inbound` measures it at
 * saturation: a fresh service, an echo installation, a warm-up at the same rate, then RUNS runs of
 * SECONDS at RATE msgs/s over CONVERSATIONS (1,000) new conversations each (paced, open loop, as
 * the e2e bench sends), or with REUSE=1 over the warm-up's conversations again (live ones: what a
 * new conversation costs is the difference; with CONVERSATIONS at RATE × SECONDS every message of
 * a run is its conversation's first). For each run, per message: the service's and Postgres's
 * CPU, the service's write and read system calls (`/proc/<pid>/io`), the transactions and rows
 * Postgres counted for the database (`pg_stat_database`, `pg_stat_user_tables`: rows inserted,
 * updated, updated in place) and the WAL it wrote; the reply and acknowledgment latencies
 * for the whole run and for each half second (where a tail comes from), and the service's
 * event-loop delay and GC pauses. With PROFILE=<file> the last run is profiled through the
 * inspector (sampling every 200 µs; that run's CPU and event-loop delay then include the
 * profiler's own). With HEAP=<file> V8's sampling heap profiler records where the last run's
 * allocations were made, those already collected too (`heap-profile-summary.ts` reads it); with
 * SURVIVORS=1 only those that outlived the young generation (what each scavenge copies and then
 * promotes to the old one, where only a full collection frees them).
 * NODE_ARGS="--flag …" starts the service with more of Node's own flags (a V8 setting to compare).
 * STEPS=1 also counts, per message, the effect runtime's steps and fibers in the service
 * (`effect-steps.ts`): counts, where the machine's noise hides a change in CPU.
 *
 *   node scripts/bench/steady-load.ts [RATE=500] [SECONDS=8] [RUNS=3] [WARM=5] [REUSE=1]
 *     [CONVERSATIONS=1000] [PROFILE=file] [HEAP=file [SURVIVORS=1]] [NODE_ARGS="…"] [STEPS=1]
 *     [KEY=value …]
 *
 * Other KEY=value pairs go to the service's environment.
 */

const settings: Record<string, string> = {
  RATE: "500",
  SECONDS: "8",
  RUNS: "3",
  WARM: "5",
  REUSE: "0",
  SURVIVORS: "0",
  STEPS: "0",
  CONVERSATIONS: "1000"
}
const env: Record<string, string> = {}
for (const arg of process.argv.slice(2)) {
  const at = arg.indexOf("=")
  if (at <= 0) throw new Error(`expected KEY=value, got ${arg}`)
  const key = arg.slice(0, at)
  if (key in settings || key === "PROFILE" || key === "HEAP" || key === "NODE_ARGS")
    settings[key] = arg.slice(at + 1)
  else env[key] = arg.slice(at + 1)
}
const rate = Number(settings.RATE)
const seconds = Number(settings.SECONDS)
const runs = Number(settings.RUNS)
const reuse = settings.REUSE === "1"
const conversations = Number(settings.CONVERSATIONS)
const countSteps = settings.STEPS === "1"

/** The service's system calls so far, from `/proc/<pid>/io`. */
const syscalls = (pid: number) => {
  const fields = new Map(
    readFileSync(`/proc/${pid}/io`, "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(": ") as [string, string])
  )
  return {
    writes: Number(fields.get("syscw")),
    reads: Number(fields.get("syscr")),
    written: Number(fields.get("wchar")),
    read: Number(fields.get("rchar"))
  }
}

/**
 * Transactions committed, rows inserted in one database so far, each of its tables' rows inserted
 * and updated (and of those, updated in place: HOT), and the WAL the server has written (the
 * bench's databases are its only writers).
 */
const databaseCounters = async (url: string, name: string) => {
  const rows = await query<{ commits: string; inserted: string; wal: string }>(
    url,
    `SELECT d.xact_commit::text AS commits, d.tup_inserted::text AS inserted,
            pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS wal
     FROM pg_stat_database d WHERE d.datname = '${name}'`
  )
  const row = rows[0]
  const tables = await query<{ name: string; inserted: string; updated: string; hot: string }>(
    url,
    `SELECT relname AS name, n_tup_ins::text AS inserted, n_tup_upd::text AS updated, n_tup_hot_upd::text AS hot
     FROM pg_stat_user_tables`
  )
  const byName = new Map(
    tables.map((table) => [
      table.name,
      { inserted: Number(table.inserted), updated: Number(table.updated), hot: Number(table.hot) }
    ])
  )
  const sum = (key: "updated" | "hot") => [...byName.values()].reduce((total, table) => total + table[key], 0)
  return {
    tables: byName,
    commits: Number(row?.commits ?? 0),
    inserted: Number(row?.inserted ?? 0),
    updated: sum("updated"),
    hot: sum("hot"),
    wal: Number(row?.wal ?? 0)
  }
}

/** Each table's rows inserted / updated (in place) per message between two readings, busiest first. */
type TableRows = ReadonlyMap<string, { inserted: number; updated: number; hot: number }>
const byTable = (before: TableRows, after: TableRows, messages: number) =>
  [...after]
    .map(([name, now]) => {
      const then = before.get(name) ?? { inserted: 0, updated: 0, hot: 0 }
      return {
        name,
        inserted: now.inserted - then.inserted,
        updated: now.updated - then.updated,
        hot: now.hot - then.hot
      }
    })
    .filter((table) => table.inserted + table.updated > 0)
    .sort((a, b) => b.inserted + b.updated - (a.inserted + a.updated))
    .map(
      (table) =>
        `${table.name} ${(table.inserted / messages).toFixed(2)}/${(table.updated / messages).toFixed(2)}` +
        ` (${(table.hot / messages).toFixed(2)})`
    )
    .join(", ")

const brief = (latency: LatencySummary) => `p50 ${latency.p50} p99 ${latency.p99} max ${latency.max} ms`

const cleanup = teardown()
try {
  const database = cleanup.add(await createBenchDatabase("steady"), (database) => database.drop())
  const receiver = cleanup.add(await startReceiver(), (receiver) => receiver.close())
  const service = cleanup.add(
    await startService({
      databaseUrl: database.url,
      inspect: true,
      env,
      nodeArgs: [
        ...(settings.NODE_ARGS?.split(" ").filter((flag) => flag !== "") ?? []),
        ...(countSteps ? ["--import", fileURLToPath(new URL("./effect-steps.ts", import.meta.url))] : [])
      ]
    }),
    (service) => service.stop()
  )
  const inspectPort = service.inspectPort!
  const installation = await createEchoInstallation(service.url, { responseUrl: receiver.url })
  const target = { webhookUrl: installation.webhookUrl, token: installation.token }
  const warm = await sendPaced(target, {
    run: "warm",
    rate,
    durationMs: Number(settings.WARM) * 1000,
    conversations
  })
  await waitUntil(() => receiver.run("warm").accepted >= warm.acknowledged, 30_000)

  for (let index = 0; index < runs; index++) {
    const run = `r${index}`
    const profiled = (settings.PROFILE !== undefined || settings.HEAP !== undefined) && index === runs - 1
    await waitForQuiet(service.pid, 30_000)
    await startPauseMonitor(inspectPort)
    const cpuBefore = cpuSnapshot(service.pid)
    const callsBefore = syscalls(service.pid)
    const countersBefore = await databaseCounters(database.url, database.name)
    const stepsBefore = countSteps ? await readEffectSteps(inspectPort) : undefined
    // The receiver tells runs apart by their conversations' names.
    const arrivals = receiver.run(reuse ? "warm" : run)
    const [acceptedBefore, latenciesBefore] = [arrivals.accepted, arrivals.latencies.length]
    const send = async () => {
      const sent = await sendPaced(target, {
        run,
        rate,
        durationMs: seconds * 1000,
        conversations,
        ...(reuse ? { conversationsOf: "warm" } : {})
      })
      await waitUntil(() => arrivals.accepted - acceptedBefore >= sent.acknowledged, 30_000)
      // The read models' and the delivery projector's share of these messages.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      return sent
    }
    // The profilers record while their inspector session is open.
    const sent = !profiled
      ? await send()
      : await session(inspectPort, async (call) => {
          if (settings.PROFILE !== undefined) {
            await call("Profiler.enable")
            await call("Profiler.setSamplingInterval", { interval: 200 })
            await call("Profiler.start")
          }
          if (settings.HEAP !== undefined) {
            // Every sampled allocation, also those already collected: where the garbage comes from.
            // With SURVIVORS=1 only what outlived the young generation: what scavenges copy and promote.
            await call("HeapProfiler.startSampling", {
              samplingInterval: 16_384,
              includeObjectsCollectedByMajorGC: true,
              includeObjectsCollectedByMinorGC: settings.SURVIVORS !== "1"
            })
          }
          const sent = await send()
          if (settings.PROFILE !== undefined) {
            const stopped = (await call("Profiler.stop")) as { readonly profile: unknown }
            writeFileSync(settings.PROFILE, JSON.stringify(stopped.profile))
          }
          if (settings.HEAP !== undefined) {
            const sampled = (await call("HeapProfiler.stopSampling")) as { readonly profile: unknown }
            writeFileSync(settings.HEAP, JSON.stringify(sampled.profile))
          }
          return sent
        })
    const cpu = cpuPerMessage(cpuBefore, cpuSnapshot(service.pid), sent.acknowledged)
    const callsAfter = syscalls(service.pid)
    const stepsAfter = countSteps ? await readEffectSteps(inspectPort) : undefined
    const pauses = await readPauseMonitor(inspectPort)
    // pg_stat_database is updated when a backend reports, at most every half second.
    await new Promise((resolve) => setTimeout(resolve, 600))
    const countersAfter = await databaseCounters(database.url, database.name)
    const per = (count: number) => (count / sent.acknowledged).toFixed(2)
    const kb = (bytes: number) => (bytes / 1024 / sent.acknowledged).toFixed(2)
    const latencies = arrivals.latencies.slice(latenciesBefore)
    console.log(
      `${run}: ${rate} msgs/s, ${sent.acknowledged} acknowledged, ${arrivals.accepted - acceptedBefore} replies\n` +
        `  reply ${brief(summarize(latencies))}; acknowledged ${brief(summarize(sent.answerLatencies))}\n` +
        `  per message: service ${cpu.serverMs} ms, Postgres ${cpu.postgresMs} ms, bench ${cpu.benchMs} ms of CPU; ` +
        `${per(callsAfter.writes - callsBefore.writes)} writes (${kb(callsAfter.written - callsBefore.written)} KB), ` +
        `${per(callsAfter.reads - callsBefore.reads)} reads (${kb(callsAfter.read - callsBefore.read)} KB); ` +
        `${per(countersAfter.commits - countersBefore.commits)} transactions, ` +
        `${per(countersAfter.inserted - countersBefore.inserted)} rows inserted, ` +
        `${per(countersAfter.updated - countersBefore.updated)} updated ` +
        `(${per(countersAfter.hot - countersBefore.hot)} in place), ${kb(countersAfter.wal - countersBefore.wal)} KB of WAL\n` +
        (stepsBefore !== undefined && stepsAfter !== undefined
          ? `  effect runtime per message: ${per(stepsAfter.steps - stepsBefore.steps)} steps, ` +
            `${per(stepsAfter.fibers - stepsBefore.fibers)} fibers\n`
          : "") +
        `  rows inserted/updated (in place) per message by table: ${byTable(countersBefore.tables, countersAfter.tables, sent.acknowledged)}\n` +
        `  service: event-loop delay p99 ${pauses.loopDelayP99} max ${pauses.loopDelayMax} ms; ` +
        `GC ${pauses.gcCount} pauses, ${pauses.gcPauseTotal} ms, longest ${pauses.gcPauseMax} ms\n` +
        `  reply p50/p99 by half second: ${byHalfSecond(latencies, rate)}`
    )
  }
} finally {
  await cleanup.run()
}
