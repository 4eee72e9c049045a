import { fileURLToPath } from "node:url"
import { type BenchContext, profileDir } from "./bench-context.ts"
import { createBenchDatabase } from "./bench-database.ts"
import { createEchoInstallation } from "./installation-setup.ts"
import { sendBacklog } from "./message-sender.ts"
import { startReceiver } from "./receiver.ts"
import type { Figures } from "./report.ts"
import { spawnChild, startService, waitUntil } from "./service-process.ts"
import { teardown } from "./teardown.ts"

/**
 * 3. Delivery: bot messages delivered per second to a fast receiver, from a backlog. The
 * receiver holds every request open while the backlog is sent (each conversation's first
 * reply stays in flight, the rest wait behind it in order); then it answers them all and
 * accepts everything at once. Measured from that moment to the last reply, so it counts what
 * a backlog costs per bot message: the bot turn, the signed POST and the recorded outcome.
 * Against a bare loop of keep-alive POSTs with the same HTTP client, at the same concurrency
 * (delivery-baseline-client.ts, a child process like the service).
 */

const baselinePath = fileURLToPath(new URL("./delivery-baseline-client.ts", import.meta.url))

const bareLoop = (url: string, count: number, concurrency: number) =>
  new Promise<{ count: number; failed: number; ms: number }>((resolve, reject) => {
    const child = spawnChild(process.execPath, [baselinePath], {
      env: { ...process.env, URL: url, COUNT: String(count), CONCURRENCY: String(concurrency) },
      stdio: ["ignore", "pipe", "inherit"]
    })
    let output = ""
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8")
    })
    child.on("exit", (code) => {
      try {
        resolve(JSON.parse(output) as { count: number; failed: number; ms: number })
      } catch {
        reject(new Error(`the delivery baseline exited with ${code}: ${output}`))
      }
    })
  })

export const measureDelivery = async (context: BenchContext): Promise<Figures> => {
  const conversations = context.quick ? 50 : 200
  const perConversation = context.quick ? 10 : 25
  const total = conversations * perConversation
  const cleanup = teardown()
  try {
    const database = cleanup.add(await createBenchDatabase("delivery"), (database) => database.drop())
    const receiver = cleanup.add(await startReceiver(), (receiver) => receiver.close())
    receiver.setMode({ _tag: "hang" })
    const service = cleanup.add(
      await startService({
        databaseUrl: database.url,
        // The held requests must outlive the backlog's sending.
        env: { DELIVERY_TIMEOUT: "5 minutes" },
        cpuProfDir: profileDir(context, "delivery")
      }),
      (service) => service.stop()
    )
    const installation = await createEchoInstallation(service.url, { responseUrl: receiver.url })
    context.log(`delivery: backlog of ${total} messages over ${conversations} conversations`)
    const sent = await sendBacklog(
      { webhookUrl: installation.webhookUrl, token: installation.token },
      { run: "backlog", conversations, perConversation, concurrency: 64 }
    )
    const inFlight = await waitUntil(() => receiver.held() >= conversations, 30_000)
    const arrivals = receiver.run("backlog")
    receiver.setMode({ _tag: "accept" })
    const released = receiver.release()
    const start = performance.now()
    const noReplies = released === 0
    let ours: number | null = null
    let allArrived = false
    if (!noReplies) {
      allArrived = await waitUntil(
        () => arrivals.accepted >= sent.acknowledged,
        context.quick ? 30_000 : 120_000
      )
      ours = ((arrivals.accepted - released) * 1000) / (arrivals.last - start)
    }
    context.log(
      noReplies
        ? "delivery: no replies arrived (is the delivery engine running in `serve`?)"
        : `delivery: ${arrivals.accepted - released} delivered after release at ${Math.round(ours ?? 0)}/s`
    )

    context.log(`delivery: bare loop of ${total} keep-alive POSTs, concurrency ${conversations}`)
    const bare = await bareLoop(receiver.url, total, conversations)
    const bareRate = ((bare.count - bare.failed) * 1000) / bare.ms

    return {
      delivery: {
        figure: ours === null ? null : Math.round(ours),
        unit: "msgs/s",
        target: null,
        met: null,
        note: noReplies
          ? "no replies arrived"
          : `bare loop ${Math.round(bareRate)} POSTs/s (ours ${((ours ?? 0) / bareRate).toFixed(2)}×)` +
            `${allArrived ? "" : `; only ${arrivals.accepted}/${sent.acknowledged} arrived`}` +
            `${inFlight ? "" : `; only ${released} of ${conversations} were in flight at release`}`,
        details: {
          conversations,
          perConversation,
          acknowledged: sent.acknowledged,
          heldAtRelease: released,
          arrived: arrivals.accepted,
          outOfOrder: arrivals.outOfOrder,
          bareLoop: { ...bare, rate: Math.round(bareRate), concurrency: conversations }
        }
      }
    }
  } finally {
    await cleanup.run()
  }
}
