import autocannon from "autocannon"
import { type BenchContext, profileDir } from "./bench-context.ts"
import { createBenchDatabase } from "./bench-database.ts"
import { cpuPerMessage, cpuSnapshot } from "./cpu-usage.ts"
import { createEchoInstallation } from "./installation-setup.ts"
import { startReceiver } from "./receiver.ts"
import type { Figures } from "./report.ts"
import { startBareServer, startService, waitUntil } from "./service-process.ts"
import { teardown } from "./teardown.ts"

/**
 * 1. Inbound accept: sustained messages/s and latency of `POST /webhooks/{id}` under autocannon
 * on loopback, over many conversations with a unique messageId each, against the bare baseline
 * (baseline-server.ts: node:http, same JSON, one INSERT per request, same driver) in the same
 * run. The service's echo replies go to a fast receiver meanwhile: that is part of its load.
 * Under the same load, the contract's floor (floor-server.ts: bare node:http doing the least the
 * contract asks of each message, its echo reply's signed delivery included): how much of the
 * baseline any implementation could reach here.
 */

interface LoadResult {
  readonly rate: number
  /** CPU milliseconds per accepted message, per process. */
  readonly cpu: ReturnType<typeof cpuPerMessage>
  readonly ok: number
  readonly failed: number
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

const load = async (options: {
  readonly pid: number
  readonly url: string
  readonly token: string
  readonly run: string
  readonly seconds: number
  readonly connections: number
  readonly conversations: number
}): Promise<LoadResult> => {
  const target = new URL(options.url)
  let n = 0
  const before = cpuSnapshot(options.pid)
  const result = await autocannon({
    url: `${target.origin}`,
    connections: options.connections,
    duration: options.seconds,
    requests: [
      {
        method: "POST",
        path: target.pathname,
        headers: { authorization: `Bearer ${options.token}`, "content-type": "application/json" },
        setupRequest: (request) => {
          const i = n++
          const conversation = `${options.run}-c${i % options.conversations}`
          return {
            ...request,
            body: JSON.stringify({
              userId: `${conversation}-user`,
              messageId: `${options.run}-m${i}`,
              conversationId: conversation,
              type: "text",
              text: `${performance.now().toFixed(3)}|${conversation}|${Math.floor(i / options.conversations)}`
            })
          }
        }
      }
    ]
  })
  const ok = result["2xx"]
  return {
    rate: ok / result.duration,
    cpu: cpuPerMessage(before, cpuSnapshot(options.pid), ok),
    ok,
    failed: result.non2xx + result.errors,
    p50: result.latency.p50,
    p99: result.latency.p99,
    p999: result.latency.p99_9,
    max: result.latency.max
  }
}

export const measureInbound = async (context: BenchContext): Promise<Figures> => {
  const seconds = context.quick ? 3 : 10
  const warmup = context.quick ? 1 : 3
  const connections = 64
  const conversations = 1000
  const cleanup = teardown()
  try {
    const database = cleanup.add(await createBenchDatabase("inbound"), (database) => database.drop())
    const receiver = cleanup.add(await startReceiver(), (receiver) => receiver.close())
    context.log(`inbound: baseline server, ${connections} connections, ${warmup} s warm-up + ${seconds} s`)
    const baselineServer = cleanup.add(
      await startBareServer("baseline-server.ts", { DATABASE_URL: database.url }),
      (server) => server.stop()
    )
    const common = { token: "none", connections, conversations }
    const bare = { ...common, url: baselineServer.url, pid: baselineServer.pid }
    await load({ ...bare, run: "baseline-warm", seconds: warmup })
    const baseline = await load({ ...bare, run: "baseline", seconds })
    await baselineServer.stop()

    context.log(`inbound: the contract's floor, same load`)
    const floorServer = cleanup.add(
      await startBareServer("floor-server.ts", {
        DATABASE_URL: database.url,
        RESPONSE_URL: receiver.url,
        TOKEN: "floor-token"
      }),
      (server) => server.stop()
    )
    const floorTarget = { ...common, token: "floor-token", url: floorServer.url, pid: floorServer.pid }
    await load({ ...floorTarget, run: "floor-warm", seconds: warmup })
    const floor = await load({ ...floorTarget, run: "floor", seconds })
    const floorArrivals = receiver.run("floor")
    const floorRepliesInRun = floorArrivals.accepted
    const floorReplied = await waitUntil(() => floorArrivals.accepted >= floor.ok, 30_000)
    await floorServer.stop()

    context.log(`inbound: the service, same load`)
    const service = cleanup.add(
      await startService({ databaseUrl: database.url, cpuProfDir: profileDir(context, "inbound") }),
      (service) => service.stop()
    )
    const installation = await createEchoInstallation(service.url, { responseUrl: receiver.url })
    const ours = { ...common, token: installation.token, url: installation.webhookUrl, pid: service.pid }
    await load({ ...ours, run: "warm", seconds: warmup })
    const measured = await load({ ...ours, run: "measured", seconds })
    const rss = service.rss()
    await service.stop()

    const ratio = measured.rate / baseline.rate
    const floorRatio = floor.rate / baseline.rate
    const round = (value: number) => Math.round(value)
    const cpuPerMessage = Math.round((measured.cpu.serverMs + measured.cpu.postgresMs) * 100) / 100
    return {
      cpu_per_message: {
        figure: cpuPerMessage,
        unit: "ms CPU per message",
        target: "≤ 0.5 ms (service + Postgres)",
        met: cpuPerMessage <= 0.5,
        note:
          `under the inbound load, with the bot and delivery running: service ${measured.cpu.serverMs} ms + ` +
          `Postgres ${measured.cpu.postgresMs} ms per accepted message (baseline ${baseline.cpu.serverMs} + ` +
          `${baseline.cpu.postgresMs} ms)`,
        details: { ours: measured.cpu, baseline: baseline.cpu }
      },
      inbound: {
        figure: Math.round(ratio * 100) / 100,
        unit: "× baseline",
        target: "≥ 1.0× bare baseline",
        met: ratio >= 1 && measured.failed === 0,
        note:
          `ours ${round(measured.rate)} msg/s p50/p99/p999 ${measured.p50}/${measured.p99}/${measured.p999} ms; ` +
          `baseline ${round(baseline.rate)} msg/s ${baseline.p50}/${baseline.p99}/${baseline.p999} ms; ` +
          `CPU ms/msg server+postgres: ours ${measured.cpu.serverMs}+${measured.cpu.postgresMs}, ` +
          `baseline ${baseline.cpu.serverMs}+${baseline.cpu.postgresMs}; the contract's floor ` +
          `${Math.round(floorRatio * 100) / 100}×` +
          (measured.failed > 0 ? `; ${measured.failed} non-2xx/errors` : ""),
        details: {
          ours: measured,
          baseline,
          connections,
          conversations,
          seconds,
          serviceRssBytes: rss,
          repliesArrivedDuringRun: receiver.run("warm").accepted + receiver.run("measured").accepted
        }
      },
      contract_floor: {
        figure: Math.round(floorRatio * 100) / 100,
        unit: "× baseline",
        target: null,
        met: null,
        note:
          `bare node:http doing the least the contract asks per message (commit, answer, commit the echo ` +
          `reply, signed POST, commit its delivery; group commit): ${round(floor.rate)} msg/s accepted, ` +
          `${round(floorRepliesInRun / seconds)} replies/s delivered during the load` +
          (floorReplied ? "" : `, ${floor.ok - floorArrivals.accepted} replies missing 30 s after`) +
          `; CPU ms/msg server+postgres ${floor.cpu.serverMs}+${floor.cpu.postgresMs}: about the most any ` +
          `implementation of the contract could accept here`,
        details: { floor, repliesDuringLoad: floorRepliesInRun, allReplied: floorReplied }
      }
    }
  } finally {
    await cleanup.run()
  }
}
