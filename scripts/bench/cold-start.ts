import { createBenchDatabase } from "./bench-database.ts"
import { cpuPerMessage, cpuSnapshot } from "./cpu-usage.ts"
import { createEchoInstallation } from "./installation-setup.ts"
import { sendPaced } from "./message-sender.ts"
import { byHalfSecond, summarize } from "./percentiles.ts"
import { startReceiver } from "./receiver.ts"
import { startService, waitUntil } from "./service-process.ts"
import { teardown } from "./teardown.ts"

/**
 * What a freshly started service does with load from its first moment (a restart under traffic):
 * a new process, an echo installation, then RATE msgs/s for SECONDS over 1,000 new conversations
 * with no warm-up, then the same again on the now warm process. With RAMP=<msgs/s> a step at that
 * rate for RAMP_SECONDS comes first (a load balancer's slow start). For each step: reply and
 * acknowledgment latency, by half second too, and the service's and Postgres's CPU per message.
 * NODE_ARGS="--flag …" starts the service with more of Node's own flags.
 *
 *   node scripts/bench/cold-start.ts [RATE=500] [SECONDS=3] [RAMP=0] [RAMP_SECONDS=3] [NODE_ARGS="…"]
 */

const settings: Record<string, string> = { RATE: "500", SECONDS: "3", RAMP: "0", RAMP_SECONDS: "3" }
for (const arg of process.argv.slice(2)) {
  const at = arg.indexOf("=")
  if (at <= 0) throw new Error(`expected KEY=value, got ${arg}`)
  settings[arg.slice(0, at)] = arg.slice(at + 1)
}
const rate = Number(settings.RATE)
const ramp = Number(settings.RAMP)

const cleanup = teardown()
try {
  const database = cleanup.add(await createBenchDatabase("cold"), (database) => database.drop())
  const receiver = cleanup.add(await startReceiver(), (receiver) => receiver.close())
  const service = cleanup.add(
    await startService({
      databaseUrl: database.url,
      nodeArgs: settings.NODE_ARGS?.split(" ").filter((flag) => flag !== "") ?? []
    }),
    (service) => service.stop()
  )
  const installation = await createEchoInstallation(service.url, { responseUrl: receiver.url })
  const target = { webhookUrl: installation.webhookUrl, token: installation.token }

  const step = async (run: string, stepRate: number, seconds: number) => {
    const before = cpuSnapshot(service.pid)
    const sent = await sendPaced(target, {
      run,
      rate: stepRate,
      durationMs: seconds * 1000,
      conversations: 1000
    })
    const arrivals = receiver.run(run)
    await waitUntil(() => arrivals.accepted >= sent.acknowledged, 60_000)
    const cpu = cpuPerMessage(before, cpuSnapshot(service.pid), Math.max(1, sent.acknowledged))
    const reply = summarize(arrivals.latencies)
    const ack = summarize(sent.answerLatencies)
    process.stdout.write(
      `${run}: ${stepRate} msgs/s for ${seconds} s, ${arrivals.accepted} replies of ${sent.acknowledged}\n` +
        `  reply p50 ${reply.p50} p99 ${reply.p99} max ${reply.max} ms; acknowledged p50 ${ack.p50} p99 ${ack.p99} ms\n` +
        `  per message: service ${cpu.serverMs} ms, Postgres ${cpu.postgresMs} ms of CPU\n` +
        `  reply p50/p99 by half second: ${byHalfSecond(arrivals.latencies, stepRate)}\n`
    )
  }

  if (ramp > 0) await step("ramp", ramp, Number(settings.RAMP_SECONDS))
  await step(ramp > 0 ? "after-ramp" : "cold", rate, Number(settings.SECONDS))
  await step("warm", rate, Number(settings.SECONDS))
} finally {
  await cleanup.run()
}
