import { query } from "../postgres-databases.ts"
import { type BenchContext, profileDir } from "./bench-context.ts"
import { createBenchDatabase } from "./bench-database.ts"
import { createEchoInstallation } from "./installation-setup.ts"
import { sendBacklog } from "./message-sender.ts"
import { startReceiver } from "./receiver.ts"
import type { Figures } from "./report.ts"
import { sleep, startService, waitUntil } from "./service-process.ts"
import { teardown } from "./teardown.ts"

/**
 * 6. Recovery: 10,000 messages (100 conversations × 100, each acknowledged before the next of
 * its conversation is sent) while the receiver answers 503, so every reply stays pending; once
 * all 10,000 replies are in the log, SIGKILL the service, let the receiver accept, start the
 * service again on the same database and port, and time until every reply has arrived.
 * Lost = acknowledged messages whose reply never arrived (a dead letter counts as lost);
 * out of order = a reply accepted after a later one of its conversation. The installation
 * retries every second (600 times, so nothing is dead-lettered while the backlog builds): a
 * reply that failed just before the kill is due again soon after the restart. Few
 * conversations keep the failing heads' retries (one a second each) from crowding out the
 * inbound messages.
 */

const emittedCount = async (url: string) => {
  const rows = await query<{ count: string }>(
    url,
    "SELECT count(*)::text AS count FROM events WHERE type = 'BotMessageEmitted'"
  )
  return Number(rows[0]?.count ?? 0)
}

export const measureRecovery = async (context: BenchContext): Promise<Figures> => {
  const conversations = context.quick ? 20 : 100
  const perConversation = context.quick ? 50 : 100
  const total = conversations * perConversation
  const cleanup = teardown()
  try {
    const database = cleanup.add(await createBenchDatabase("recovery"), (database) => database.drop())
    const receiver = cleanup.add(await startReceiver(), (receiver) => receiver.close())
    receiver.setMode({ _tag: "refuse", status: 503 })
    const first = cleanup.add(await startService({ databaseUrl: database.url }), (service) => service.kill())
    const installation = await createEchoInstallation(first.url, {
      responseUrl: receiver.url,
      // Retries keep going for a minute (20 waits of 3 s, the most a schedule may have) while the receiver refuses.
      retrySchedule: Array.from({ length: 20 }, () => 3000)
    })
    context.log(`recovery: ${total} messages while the receiver answers 503`)
    const sent = await sendBacklog(
      { webhookUrl: installation.webhookUrl, token: installation.token },
      { run: "recovery", conversations, perConversation, concurrency: 64 }
    )
    let emitted = 0
    const deadline = Date.now() + 60_000
    for (;;) {
      emitted = await emittedCount(database.url)
      if (emitted >= sent.acknowledged || Date.now() > deadline) break
      if (emitted === 0 && Date.now() > deadline - 50_000) break
      await sleep(250)
    }
    context.log(`recovery: ${emitted} replies pending; SIGKILL`)
    await first.kill()
    receiver.setMode({ _tag: "accept" })
    const killedAt = performance.now()
    cleanup.add(
      await startService({
        databaseUrl: database.url,
        port: first.port,
        cpuProfDir: profileDir(context, "recovery")
      }),
      (service) => service.stop()
    )
    const readyAfter = (performance.now() - killedAt) / 1000
    const arrivals = receiver.run("recovery")
    const allArrived = await waitUntil(
      () => arrivals.accepted >= sent.acknowledged,
      emitted === 0 ? 10_000 : context.quick ? 60_000 : 180_000
    )
    const seconds = arrivals.accepted === 0 ? null : (arrivals.last - killedAt) / 1000

    let lost = 0
    for (const [conversation, sequences] of sent.acknowledgedSequences) {
      const arrived = new Set(arrivals.sequences.get(conversation) ?? [])
      for (const sequence of sequences) if (!arrived.has(sequence)) lost++
    }
    const note =
      arrivals.accepted === 0
        ? `no replies arrived (${emitted} were emitted before the kill)`
        : `${arrivals.accepted}/${sent.acknowledged} delivered, ${lost} lost, ${arrivals.outOfOrder} out of order, ` +
          `${receiver.duplicates()} duplicates; ready ${readyAfter.toFixed(1)} s after the kill`
    context.log(`recovery: ${note}`)
    return {
      recovery: {
        figure: seconds === null ? null : Math.round(seconds * 10) / 10,
        unit: "s to deliver all",
        target: "lost 0, out of order 0",
        met: allArrived && lost === 0 && arrivals.outOfOrder === 0 && sent.acknowledged === total,
        note,
        details: {
          messages: total,
          acknowledged: sent.acknowledged,
          pendingAtKill: emitted,
          delivered: arrivals.accepted,
          lost,
          outOfOrder: arrivals.outOfOrder,
          duplicates: receiver.duplicates(),
          readySecondsAfterKill: Math.round(readyAfter * 10) / 10,
          refusedRequestsBeforeKill: receiver.requests() - arrivals.accepted - receiver.duplicates()
        }
      }
    }
  } finally {
    await cleanup.run()
  }
}
