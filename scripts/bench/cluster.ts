import { performance } from "node:perf_hooks"
import { freePort } from "../serve-child.ts"
import type { BenchContext } from "./bench-context.ts"
import { createBenchDatabase } from "./bench-database.ts"
import { createEchoInstallation } from "./installation-setup.ts"
import { type SendSummary, sendBacklog } from "./message-sender.ts"
import { startReceiver } from "./receiver.ts"
import type { Figures } from "./report.ts"
import { type ServiceProcess, sleep, startService, waitUntil } from "./service-process.ts"
import { teardown } from "./teardown.ts"

/**
 * 7. Several processes (effect/cluster runners on one database, `CLUSTER_PORT`):
 * - throughput with 1, 2 and 3 processes: a backlog (one message in flight per conversation)
 *   spread over the processes' ports, each sender of the same size; msg/s until every reply has
 *   arrived. On 2 cores the processes share the CPU with Postgres: more processes may not help.
 * - failover: 2 runners (default `CLUSTER_LEASE`, 10 s), SIGKILL one: seconds until the survivor
 *   holds every shard.
 * - handoff: 2 runners, SIGTERM one: seconds until the survivor holds every shard.
 */

const SHARDS = 300

interface Runner extends ServiceProcess {
  readonly clusterPort: number
}

const startRunner = async (databaseUrl: string): Promise<Runner> => {
  const clusterPort = await freePort()
  const service = await startService({ databaseUrl, env: { CLUSTER_PORT: String(clusterPort) } })
  return { ...service, clusterPort }
}

const shardsOf = (runner: Runner): Promise<number> =>
  fetch(`${runner.url}/readyz`)
    .then((response) => response.json() as Promise<{ cluster?: { shards: number } }>)
    .then((body) => body.cluster?.shards ?? 0)
    .catch(() => 0)

/** Polls until the runners hold every shard between them; false after `timeoutMs`. */
const allShardsHeld = async (runners: ReadonlyArray<Runner>, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const counts = await Promise.all(runners.map(shardsOf))
    if (counts.reduce((a, b) => a + b, 0) === SHARDS && counts.every((count) => count > 0)) return true
    if (Date.now() > deadline) return false
    await sleep(20)
  }
}

const throughput = async (context: BenchContext, processes: number) => {
  const conversations = context.quick ? 30 : 90
  const perConversation = context.quick ? 10 : 30
  const cleanup = teardown()
  try {
    const database = cleanup.add(await createBenchDatabase(`cluster${processes}`), (database) =>
      database.drop()
    )
    const receiver = cleanup.add(await startReceiver(), (receiver) => receiver.close())
    // Stopped together: one runner stopping alone would hand its shards to the others first.
    const runners = cleanup.add([] as Array<Runner>, (runners) =>
      Promise.all(runners.map((runner) => runner.stop()))
    )
    for (let i = 0; i < processes; i++) runners.push(await startRunner(database.url))
    if (!(await allShardsHeld(runners, 60_000))) throw new Error("the runners did not share the shards")
    const installation = await createEchoInstallation(runners[0]!.url, { responseUrl: receiver.url })
    const path = new URL(installation.webhookUrl).pathname
    const run = `cluster${processes}`
    const started = performance.now()
    const sent: Array<SendSummary> = await Promise.all(
      runners.map((runner, i) =>
        sendBacklog(
          { webhookUrl: `${runner.url}${path}`, token: installation.token },
          {
            run: `${run}-p${i}`,
            conversations: Math.ceil(conversations / processes),
            perConversation,
            concurrency: Math.ceil(64 / processes)
          }
        )
      )
    )
    const acknowledged = sent.reduce((sum, summary) => sum + summary.acknowledged, 0)
    const arrivals = runners.map((_, i) => receiver.run(`${run}-p${i}`))
    const accepted = () => arrivals.reduce((sum, each) => sum + each.accepted, 0)
    const all = await waitUntil(() => accepted() >= acknowledged, 120_000)
    const last = Math.max(...arrivals.map((each) => each.last))
    const seconds = (last - started) / 1000
    const outOfOrder = arrivals.reduce((sum, each) => sum + each.outOfOrder, 0)
    const conflicts = runners.reduce(
      (sum, runner) => sum + runner.output().split("version conflict").length - 1,
      0
    )
    return {
      messagesPerSecond: all ? Math.round(acknowledged / seconds) : null,
      acknowledged,
      delivered: accepted(),
      outOfOrder,
      conflicts
    }
  } finally {
    await cleanup.run()
  }
}

/** Seconds from stopping one of 2 runners (SIGKILL or SIGTERM) until the other holds every shard. */
const takeover = async (how: "kill" | "stop") => {
  const cleanup = teardown()
  try {
    const database = cleanup.add(await createBenchDatabase(`cluster-${how}`), (database) => database.drop())
    const runners = cleanup.add([] as Array<Runner>, (runners) =>
      Promise.all(runners.map((runner) => runner.stop()))
    )
    for (let i = 0; i < 2; i++) runners.push(await startRunner(database.url))
    if (!(await allShardsHeld(runners, 60_000))) throw new Error("the runners did not share the shards")
    const [leaving, staying] = runners as [Runner, Runner]
    const started = performance.now()
    if (how === "kill") await leaving.kill()
    else void leaving.stop()
    const moved = await allShardsHeld([staying], 120_000)
    return moved ? Math.round((performance.now() - started) / 100) / 10 : null
  } finally {
    await cleanup.run()
  }
}

export const measureCluster = async (context: BenchContext): Promise<Figures> => {
  const byProcesses: Record<number, Awaited<ReturnType<typeof throughput>>> = {}
  for (const processes of [1, 2, 3]) {
    context.log(`cluster: throughput with ${processes} process${processes === 1 ? "" : "es"}`)
    byProcesses[processes] = await throughput(context, processes)
    context.log(`cluster: ${JSON.stringify(byProcesses[processes])}`)
  }
  context.log("cluster: failover after SIGKILL (CLUSTER_LEASE 10 seconds)")
  const failover = await takeover("kill")
  context.log(`cluster: failover ${failover} s; handoff after SIGTERM`)
  const handoff = await takeover("stop")
  context.log(`cluster: handoff ${handoff} s`)
  const rates = [1, 2, 3].map((n) => byProcesses[n]!.messagesPerSecond)
  const clean = [1, 2, 3].every(
    (n) =>
      byProcesses[n]!.outOfOrder === 0 &&
      byProcesses[n]!.conflicts === 0 &&
      byProcesses[n]!.delivered >= byProcesses[n]!.acknowledged
  )
  return {
    cluster: {
      figure: rates[2] ?? null,
      unit: "msg/s with 3 processes",
      target: "every reply, in order, 0 conflicts",
      met: clean && rates.every((rate) => rate !== null),
      note: `1/2/3 processes: ${rates.join(" / ")} msg/s end to end`,
      details: byProcesses
    },
    clusterFailover: {
      figure: failover,
      unit: "s until a killed runner's shards move",
      target: "about CLUSTER_LEASE (10 s)",
      met: failover !== null,
      note: "SIGKILL one of 2 runners: the survivor holds every shard"
    },
    clusterHandoff: {
      figure: handoff,
      unit: "s until a stopped runner's shards move",
      target: "well under CLUSTER_LEASE",
      met: handoff !== null && handoff < 10,
      note: "SIGTERM one of 2 runners: its shards handed off before it exits"
    }
  }
}
