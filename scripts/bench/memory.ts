import { query } from "../postgres-databases.ts"
import { type BenchContext, profileDir } from "./bench-context.ts"
import { createBenchDatabase } from "./bench-database.ts"
import { memoryAfterGc } from "./inspector-probe.ts"
import { createEchoInstallation } from "./installation-setup.ts"
import { sendBacklog } from "./message-sender.ts"
import { startReceiver } from "./receiver.ts"
import type { Figures } from "./report.ts"
import { sleep, startService, waitUntil } from "./service-process.ts"
import { teardown } from "./teardown.ts"

/**
 * 4. Memory, as the operating system sees it (VmRSS of the service process):
 * - active: one message to each of 10,000 new conversations with passivation far off; heap once
 *   every reply has arrived (all of them live at once: the service is a process alone, so their
 *   actors are in its LocalActors map), and again once they have been idle 25 s (each its Actor
 *   and decision state), the figure;
 * - passivated: one message to each of 100,000 new conversations with PASSIVATE_AFTER short;
 *   RSS once every reply has arrived, every conversation has been idle past it, and RSS has
 *   settled (V8 gives a burst's memory back at its memory reducer's next quiet check).
 * Each phase runs on a fresh service process and database, within a time budget (so that the
 * whole bench stays within minutes): when the service cannot take that many new conversations
 * in time, the figure is for those it took, and the target is not met.
 * Then, through the inspector, a forced full GC: heap used after it is what the process still
 * holds; RSS above that is memory V8 has not returned to the system.
 */

/**
 * Whether both log followers' checkpoints (read models, delivery hints) are at the log's last event
 * in the order they read it: by transaction, then position (a later transaction may hold lower
 * positions than an earlier one).
 */
const followersCaughtUp = async (url: string): Promise<boolean> => {
  const rows = await query<{ behind: number }>(
    url,
    `SELECT count(*)::int AS behind FROM (VALUES ('read_models'), ('delivery')) AS f(name)
     LEFT JOIN projection_checkpoints c ON c.name = f.name
     CROSS JOIN (SELECT transaction_id, position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1) AS last
     WHERE c.name IS NULL OR (c.transaction_id, c.position) < (last.transaction_id, last.position)`
  )
  return rows[0]?.behind === 0
}

/** Seconds until the log followers caught up, or undefined when they had not within `timeoutMs`. */
const untilFollowersCaughtUp = async (url: string, timeoutMs: number): Promise<number | undefined> => {
  const started = performance.now()
  while (!(await followersCaughtUp(url))) {
    if (performance.now() - started > timeoutMs) return undefined
    await sleep(500)
  }
  return Math.round((performance.now() - started) / 100) / 10
}

/**
 * Waits for the service's RSS to settle after its work has ended: V8 returns a burst's freed memory
 * to the system in memory-reducing full GCs, which its memory reducer starts only at one of its
 * checks (one every 8 s) that finds allocation low, so RSS can stay at its peak for a check or two
 * after the last conversation passivated. Settled: RSS has not fallen by more than 1 % for
 * `quietMs` (a window longer than two of those checks), or `timeoutMs` passed. Returns the seconds
 * into the wait at which it last fell (0: it did not).
 */
const untilRssSettles = async (rss: () => number, quietMs: number, timeoutMs: number): Promise<number> => {
  const started = performance.now()
  let lowest = rss()
  let lastFall = started
  while (performance.now() - lastFall < quietMs && performance.now() - started < timeoutMs) {
    await sleep(1000)
    const now = rss()
    if (now < lowest * 0.99) {
      lowest = now
      lastFall = performance.now()
    }
  }
  return Math.round((lastFall - started) / 1000)
}

const MB = 1024 * 1024
const mb = (bytes: number) => Math.round(bytes / MB)

interface Phase {
  readonly wanted: number
  readonly conversations: number
  /** Messages answered with anything but 2xx (a 503 "busy" among them), or not answered. */
  readonly refused: number
  readonly replies: number
  readonly sendSeconds: number
  readonly idleRssMb: number
  readonly peakRssMb: number
  readonly rssMb: number
  readonly afterGc: { readonly rssMb: number; readonly heapUsedMb: number; readonly externalMb: number }
  readonly idleAfterGc: { readonly rssMb: number; readonly heapUsedMb: number }
  /** Seconds from the last reply until both log followers had applied every event (undefined: not within 180 s). */
  readonly followersCaughtUpSeconds: number | undefined
  /**
   * Passivated phase: RSS once every conversation was idle past PASSIVATE_AFTER (and the sweep had
   * run), and the seconds after that at which it last fell before settling (`untilRssSettles`).
   */
  readonly passivatedRssMb: number | undefined
  readonly rssFellAfterSeconds: number | undefined
  /** (heap used after GC − idle heap used after GC) / conversations: what each one keeps. */
  readonly heapKbPerConversation: number
  /** The same right after the last reply (the active phase), before the conversations' 25 s idle. */
  readonly answeredHeapKbPerConversation: number | undefined
}

const kbPer = (bytes: number, count: number) => Math.round((bytes / 1024 / Math.max(1, count)) * 10) / 10

const touch = async (
  context: BenchContext,
  label: string,
  wanted: number,
  budgetMs: number,
  passivateAfterSeconds: number | undefined
): Promise<Phase> => {
  const cleanup = teardown()
  try {
    const database = cleanup.add(await createBenchDatabase(`memory_${label}`), (database) => database.drop())
    const receiver = cleanup.add(await startReceiver(), (receiver) => receiver.close())
    const service = cleanup.add(
      await startService({
        databaseUrl: database.url,
        env: {
          PASSIVATE_AFTER: passivateAfterSeconds === undefined ? "1 hour" : `${passivateAfterSeconds} seconds`
        },
        cpuProfDir: profileDir(context, `memory-${label}`),
        inspect: true
      }),
      (service) => service.stop()
    )
    let peak = 0
    cleanup.add(
      setInterval(() => {
        peak = Math.max(peak, service.rss())
      }, 250),
      clearInterval
    )
    const installation = await createEchoInstallation(service.url, { responseUrl: receiver.url })
    await sleep(1000)
    const idle = service.rss()
    const idleAfterGc = await memoryAfterGc(service.inspectPort!)
    context.log(
      `memory: ${label}: up to ${wanted} new conversations in ${budgetMs / 1000} s; RSS idle ${mb(idle)} MB ` +
        `(heap used after GC ${mb(idleAfterGc.heapUsed)} MB)`
    )
    const sent = await sendBacklog(
      { webhookUrl: installation.webhookUrl, token: installation.token },
      { run: label, conversations: wanted, perConversation: 1, concurrency: 64, budgetMs }
    )
    const arrivals = receiver.run(label)
    await waitUntil(() => arrivals.accepted >= sent.acknowledged, 60_000)
    let answeredHeapUsed: number | undefined
    let followersCaughtUpSeconds: number | undefined
    let passivatedRss: number | undefined
    let rssFellAfterSeconds: number | undefined
    if (passivateAfterSeconds !== undefined) {
      // Idle: the log followers have applied every event (after a burst the read models trail the
      // replies by seconds, and until then the process is still at work), then past
      // PASSIVATE_AFTER, plus time for the sweep to drop the actors; then until RSS settles.
      followersCaughtUpSeconds = await untilFollowersCaughtUp(database.url, 180_000)
      await sleep((passivateAfterSeconds + 10) * 1000)
      passivatedRss = service.rss()
      peak = Math.max(peak, passivatedRss)
      rssFellAfterSeconds = await untilRssSettles(service.rss, 20_000, 60_000)
    } else {
      // Just answered, every conversation's actor in the LocalActors map (PASSIVATE_AFTER is an
      // hour); then 25 s idle: what an idle live conversation keeps, once its work has ended.
      answeredHeapUsed = (await memoryAfterGc(service.inspectPort!)).heapUsed
      await sleep(25_000)
    }
    const rss = service.rss()
    peak = Math.max(peak, rss)
    const afterGc = await memoryAfterGc(service.inspectPort!)
    const phase: Phase = {
      wanted,
      conversations: sent.acknowledged,
      refused: sent.failed,
      replies: arrivals.accepted,
      sendSeconds: Math.round(sent.durationMs / 100) / 10,
      idleRssMb: mb(idle),
      peakRssMb: mb(peak),
      rssMb: mb(rss),
      afterGc: { rssMb: mb(afterGc.rss), heapUsedMb: mb(afterGc.heapUsed), externalMb: mb(afterGc.external) },
      idleAfterGc: { rssMb: mb(idleAfterGc.rss), heapUsedMb: mb(idleAfterGc.heapUsed) },
      followersCaughtUpSeconds,
      passivatedRssMb: passivatedRss === undefined ? undefined : mb(passivatedRss),
      rssFellAfterSeconds,
      heapKbPerConversation: kbPer(afterGc.heapUsed - idleAfterGc.heapUsed, sent.acknowledged),
      answeredHeapKbPerConversation:
        answeredHeapUsed === undefined
          ? undefined
          : kbPer(answeredHeapUsed - idleAfterGc.heapUsed, sent.acknowledged)
    }
    context.log(
      `memory: ${label}: ${phase.conversations} conversations in ${phase.sendSeconds} s, ${phase.replies} replies; ` +
        `RSS ${phase.rssMb} MB (peak ${phase.peakRssMb}); after a forced GC: RSS ${phase.afterGc.rssMb} MB, ` +
        `heap used ${phase.afterGc.heapUsedMb} MB`
    )
    return phase
  } finally {
    await cleanup.run()
  }
}

export const measureMemory = async (context: BenchContext): Promise<Figures> => {
  const activeCount = context.quick ? 1_000 : 10_000
  const passivatedCount = context.quick ? 3_000 : 100_000
  const budgetMs = context.quick ? 30_000 : 60_000

  const active = await touch(context, "active", activeCount, budgetMs, undefined)
  // The target is the memory 100,000 passivated conversations leave, so they get time enough to
  // all be taken at today's rates (about 300 new conversations a second on this machine); the
  // rate itself is the inbound and end-to-end figures' business.
  const passivated = await touch(context, "passivated", passivatedCount, budgetMs * 6, 5)
  const shortOf = (phase: Phase) =>
    `${
      phase.conversations < phase.wanted
        ? `only ${phase.conversations.toLocaleString("en-US")} of ${phase.wanted.toLocaleString("en-US")} ` +
          `new conversations taken in ${phase.sendSeconds} s; `
        : ""
    }${phase.refused} refused; `
  return {
    memory_passivated: {
      figure: passivated.rssMb,
      unit: "MB RSS",
      target: `≤ 300 MB after ${passivatedCount.toLocaleString("en-US")} passivated conversations`,
      met: passivated.rssMb <= 300 && passivated.conversations >= passivatedCount && passivated.refused === 0,
      note:
        `${shortOf(passivated)}in ${passivated.sendSeconds} s; ` +
        (passivated.followersCaughtUpSeconds === undefined
          ? "the log followers had not caught up 180 s after the last reply; "
          : `the log followers caught up ${passivated.followersCaughtUpSeconds} s after the last reply; `) +
        `RSS ${passivated.passivatedRssMb} MB once all had passivated, settled ` +
        (passivated.rssFellAfterSeconds === 0
          ? "at once"
          : `${passivated.rssFellAfterSeconds} s later (V8's memory reducer returned the burst's memory)`) +
        `; peak ${passivated.peakRssMb} MB; ` +
        `after a forced full GC: RSS ${passivated.afterGc.rssMb} MB, ` +
        `heap used ${passivated.afterGc.heapUsedMb} MB (idle ${passivated.idleAfterGc.heapUsedMb} MB), ` +
        `≈ ${passivated.heapKbPerConversation} KB kept per passivated conversation`,
      details: { ...passivated, passivateAfterSeconds: 5 }
    },
    memory_active: {
      figure: active.heapKbPerConversation,
      unit: "KB heap per live conversation",
      target: "≤ 2 KB per idle live conversation",
      met: active.heapKbPerConversation <= 2 && active.refused === 0,
      note:
        `${shortOf(active)}${active.conversations.toLocaleString("en-US")} conversations live at once, idle 25 s ` +
        `(${active.answeredHeapKbPerConversation} KB each right after the last reply); ` +
        `RSS ${active.rssMb} MB (idle at start ${active.idleRssMb} MB); after a forced full GC: RSS ` +
        `${active.afterGc.rssMb} MB, heap used ${active.afterGc.heapUsedMb} MB`,
      details: { ...active }
    }
  }
}
