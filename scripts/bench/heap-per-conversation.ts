import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { createBenchDatabase } from "./bench-database.ts"
import { heapSnapshotAfterGc, memoryAfterGc } from "./inspector-probe.ts"
import { createEchoInstallation } from "./installation-setup.ts"
import { sendBacklog } from "./message-sender.ts"
import { startReceiver } from "./receiver.ts"
import { sleep, startService, waitUntil } from "./service-process.ts"
import { teardown } from "./teardown.ts"

/**
 * What one idle live conversation keeps on the heap, smaller and quicker than `--only memory`:
 * a fresh service (PASSIVATE_AFTER=1 hour unless set), an echo installation, one message to each
 * of N new conversations, every reply received; heap used after a forced GC, minus the idle
 * service's, divided by N. With a directory, heap snapshots of both moments are written there
 * for `heap-breakdown.ts`.
 *
 * KEY=value pairs go to the service's environment, except SETTLE_MS: how long to wait after the
 * last reply before looking (default 3000; past PASSIVATE_AFTER it measures what a passivated
 * conversation leaves behind), and WARMUP: conversations sent before the idle measurement (default
 * 0, as `--only memory`), so that code compiled and pools grown on first use (some 4 MB, which
 * divided by 2,000 conversations reads as 2 KB each) are in the baseline, not in the figure.
 *
 *   node scripts/bench/heap-per-conversation.ts [conversations=5000] [snapshot dir] [KEY=value …]
 */

const args = process.argv.slice(2)
const count = Number(args[0] ?? 5000)
const dir = args[1] !== undefined && !args[1].includes("=") ? args[1] : undefined
const env: Record<string, string> = { PASSIVATE_AFTER: "1 hour" }
for (const arg of args.slice(1)) {
  const at = arg.indexOf("=")
  if (at > 0) env[arg.slice(0, at)] = arg.slice(at + 1)
}
const settleMs = Number(env.SETTLE_MS ?? 3000)
const warmup = Number(env.WARMUP ?? 0)
delete env.SETTLE_MS
delete env.WARMUP
if (dir !== undefined) mkdirSync(dir, { recursive: true })

const cleanup = teardown()
try {
  const database = cleanup.add(await createBenchDatabase("heap_per_conversation"), (database) =>
    database.drop()
  )
  const receiver = cleanup.add(await startReceiver(), (receiver) => receiver.close())
  const service = cleanup.add(
    await startService({ databaseUrl: database.url, env, inspect: true }),
    (service) => service.stop()
  )
  const installation = await createEchoInstallation(service.url, { responseUrl: receiver.url })
  const target = { webhookUrl: installation.webhookUrl, token: installation.token }
  /** One message to each of `conversations` new conversations; resolves once every reply arrived (or the wait ended). */
  const touch = async (run: string, conversations: number, waitMs: number) => {
    const sent = await sendBacklog(target, { run, conversations, perConversation: 1, concurrency: 32 })
    const arrivals = receiver.run(run)
    const all = await waitUntil(() => arrivals.accepted >= sent.acknowledged, waitMs)
    return { sent, arrivals, all }
  }
  if (warmup > 0) {
    await touch("warmup", warmup, 60_000)
    await sleep(settleMs)
  }
  await sleep(1000)
  const port = service.inspectPort!
  const idle = await memoryAfterGc(port)
  if (dir !== undefined) await heapSnapshotAfterGc(port, join(dir, "idle.heapsnapshot"))
  const { sent, arrivals, all } = await touch("heap", count, 120_000)
  // Let the work loops settle (their last writes) before looking.
  await sleep(settleMs)
  const live = await memoryAfterGc(port)
  if (dir !== undefined) await heapSnapshotAfterGc(port, join(dir, "live.heapsnapshot"))
  const perConversation = (live.heapUsed - idle.heapUsed) / Math.max(1, sent.acknowledged)
  console.log(
    JSON.stringify({
      env,
      warmup,
      conversations: sent.acknowledged,
      refused: sent.failed,
      replies: arrivals.accepted,
      allReplies: all,
      idleHeapUsed: idle.heapUsed,
      liveHeapUsed: live.heapUsed,
      bytesPerConversation: Math.round(perConversation)
    })
  )
} finally {
  await cleanup.run()
}
