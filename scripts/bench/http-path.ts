import { fileURLToPath } from "node:url"
import autocannon from "autocannon"
import { freePort } from "../serve-child.ts"
import { createBenchDatabase } from "./bench-database.ts"
import { cpuSnapshot } from "./cpu-usage.ts"
import { readEffectSteps } from "./inspector-probe.ts"
import { createEchoInstallation } from "./installation-setup.ts"
import { startReceiver } from "./receiver.ts"
import { startBareServer, startService } from "./service-process.ts"
import { teardown } from "./teardown.ts"

/**
 * What the service's request path costs beyond effect's own `HttpApi`: the same webhook message
 * sent again and again (the service answers it as a duplicate from the conversation's actor, with
 * no statement), against `minimal-api.ts` (the same route, schemas and parse options, a handler
 * that answers at once, no middleware). Autocannon, CONNECTIONS at a time, ROUNDS alternating
 * rounds of SECONDS each after a second of warm-up: per request the process's CPU (`/proc`), and
 * the effect runtime's steps and fibers (`effect-steps.ts`, counts that the machine's noise does
 * not move). With PROFILE_DIR each process writes a `--cpu-prof` profile of its whole life, and the
 * command that compares them per request (`cpu-profile-compare.ts`) is printed.
 *
 *   node scripts/bench/http-path.ts [SECONDS=5] [ROUNDS=3] [CONNECTIONS=32] [PROFILE_DIR=dir] [KEY=value …]
 *
 * Other KEY=value pairs go to the service's environment.
 */

const known = new Set(["SECONDS", "ROUNDS", "CONNECTIONS", "PROFILE_DIR"])
const pairs = process.argv.slice(2).map((arg) => arg.split("=", 2) as [string, string])
const settings = Object.fromEntries(pairs.filter(([key]) => known.has(key)))
/** Any other KEY=value goes to the service's environment (`LOG_LEVEL=info`, say). */
const env = Object.fromEntries(pairs.filter(([key]) => !known.has(key)))
const seconds = Number(settings.SECONDS ?? "5")
const rounds = Number(settings.ROUNDS ?? "3")
const connections = Number(settings.CONNECTIONS ?? "32")
const profileDir = settings.PROFILE_DIR

const body = JSON.stringify({
  userId: "u-1",
  messageId: "m-1",
  conversationId: "c-1",
  type: "text",
  text: "hello"
})
const stepsPreload = fileURLToPath(new URL("./effect-steps.ts", import.meta.url))
const profiled = (name: string) =>
  profileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", `${profileDir}/${name}`]

interface Target {
  readonly name: string
  readonly pid: number
  readonly url: string
  readonly token: string
  readonly inspectPort: number
}

const measure = async (target: Target) => {
  const options = {
    url: target.url,
    method: "POST" as const,
    connections,
    body,
    headers: { authorization: `Bearer ${target.token}`, "content-type": "application/json" }
  }
  const warmUp = await autocannon({ ...options, duration: 1 })
  const counts = await readEffectSteps(target.inspectPort)
  const cpu = cpuSnapshot(target.pid)
  const result = await autocannon({ ...options, duration: seconds })
  const cpuAfter = cpuSnapshot(target.pid)
  const countsAfter = await readEffectSteps(target.inspectPort)
  const requests = result.requests.total
  if (result.non2xx > 0) throw new Error(`${target.name}: ${result.non2xx} answers were not 2xx`)
  return {
    handled: warmUp.requests.total + requests,
    rate: requests / seconds,
    cpuMs: ((cpuAfter.server - cpu.server) * 1000) / requests,
    steps: (countsAfter.steps - counts.steps) / requests,
    fibers: (countsAfter.fibers - counts.fibers) / requests
  }
}

const cleanup = teardown()
try {
  const database = cleanup.add(await createBenchDatabase("http_path"), (database) => database.drop())
  const receiver = cleanup.add(await startReceiver(), (receiver) => receiver.close())
  const service = cleanup.add(
    await startService({
      databaseUrl: database.url,
      env,
      inspect: true,
      nodeArgs: ["--import", stepsPreload, ...profiled("service")]
    }),
    (service) => service.stop()
  )
  const installation = await createEchoInstallation(service.url, { responseUrl: receiver.url })
  const first = await fetch(installation.webhookUrl, {
    method: "POST",
    headers: { authorization: `Bearer ${installation.token}`, "content-type": "application/json" },
    body
  })
  if (first.status !== 200) throw new Error(`the first message was answered ${first.status}`)
  const minimalInspect = await freePort()
  const minimal = cleanup.add(
    await startBareServer("minimal-api.ts", {}, [
      `--inspect=127.0.0.1:${minimalInspect}`,
      "--import",
      stepsPreload,
      ...profiled("minimal")
    ]),
    (server) => server.stop()
  )
  const targets: ReadonlyArray<Target> = [
    {
      name: "minimal HttpApi",
      pid: minimal.pid,
      url: minimal.url,
      token: "unused",
      inspectPort: minimalInspect
    },
    {
      name: "service (a duplicate)",
      pid: service.pid,
      url: installation.webhookUrl,
      token: installation.token,
      inspectPort: service.inspectPort!
    }
  ]
  // Requests each process answered over its life, for the profiles: the first message and the
  // start-up check count too.
  const handled = [1, 1]
  for (let round = 1; round <= rounds; round++) {
    const [bare, ours] = [await measure(targets[0]!), await measure(targets[1]!)]
    handled[0] += bare.handled
    handled[1] += ours.handled
    for (const [target, figures] of [
      [targets[0]!, bare],
      [targets[1]!, ours]
    ] as const) {
      console.log(
        `round ${round} ${target.name.padEnd(22)} ${figures.rate.toFixed(0).padStart(6)} requests/s, ` +
          `${figures.cpuMs.toFixed(3)} ms of CPU, ${figures.steps.toFixed(1)} steps, ${figures.fibers.toFixed(2)} fibers a request`
      )
    }
    console.log(
      `round ${round} the service's CPU a request: ${(ours.cpuMs / bare.cpuMs).toFixed(2)}× the minimal app's`
    )
  }
  if (profileDir !== undefined) {
    console.log(
      `profiles under ${profileDir}; where the difference goes: node scripts/bench/cpu-profile-compare.ts ` +
        `${profileDir}/minimal ${handled[0]} ${profileDir}/service ${handled[1]} [function | file]`
    )
  }
} finally {
  await cleanup.run()
}
