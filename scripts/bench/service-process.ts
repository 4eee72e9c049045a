import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process"
import { mkdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { freePort, freePortOtherThan, portsIn, spawnServe, untilReady } from "../serve-child.ts"

/**
 * The real service in a child process (`serve-child.ts`), so the bench can read its RSS, SIGKILL
 * it and start it again; every child dies with the bench. `cpuProfDir` adds `--cpu-prof`: the
 * profile is written when it exits cleanly.
 */

/** Every child process the bench starts, killed if the bench exits without stopping them. */
const children = new Set<ChildProcess>()
process.on("exit", () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})

/** Starts a child process that dies with the bench. */
export const spawnChild = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions
): ChildProcess => {
  const child = spawn(command, args, options)
  children.add(child)
  child.on("exit", () => children.delete(child))
  return child
}

export const adminToken = "messaging-api-bench-admin-token"

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `condition` every 20 ms; false when `timeoutMs` passes first. */
export const waitUntil = async (condition: () => boolean, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) return false
    await sleep(20)
  }
  return true
}

/** Resident set size of a process in bytes, from /proc/<pid>/status (VmRSS). */
export const rssOf = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)
  return match === null ? Number.NaN : Number(match[1]) * 1024
}

export interface ServiceOptions {
  readonly databaseUrl: string
  /** Extra environment (PASSIVATE_AFTER, DELIVERY_TIMEOUT, …). */
  readonly env?: Readonly<Record<string, string>>
  /** Reuse a port (a restart keeps the webhook URLs valid). */
  readonly port?: number
  readonly cpuProfDir?: string | undefined
  /** Open the DevTools inspector on a free port (see inspector-probe.ts). */
  readonly inspect?: boolean
  /** More of Node's own flags (a V8 setting to compare, `--trace-gc`, …). */
  readonly nodeArgs?: ReadonlyArray<string>
}

export interface ServiceProcess {
  readonly url: string
  readonly port: number
  /** The inspector's port when started with `inspect`. */
  readonly inspectPort: number | undefined
  readonly pid: number
  readonly output: () => string
  readonly rss: () => number
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  readonly stop: (graceMs?: number) => Promise<void>
  /** SIGKILL: nothing runs after it, no profile is written. */
  readonly kill: () => Promise<void>
}

export const startService = async (options: ServiceOptions): Promise<ServiceProcess> => {
  const taken = portsIn(options.env)
  const port = options.port ?? (await freePortOtherThan(taken))
  const nodeArgs: Array<string> = [...(options.nodeArgs ?? [])]
  if (options.cpuProfDir !== undefined) {
    mkdirSync(options.cpuProfDir, { recursive: true })
    nodeArgs.push("--cpu-prof", "--cpu-prof-dir", options.cpuProfDir)
  }
  const inspectPort = options.inspect === true ? await freePortOtherThan([...taken, port]) : undefined
  if (inspectPort !== undefined) nodeArgs.push(`--inspect=127.0.0.1:${inspectPort}`)
  const serve = spawnServe({
    port,
    adminToken,
    env: { DATABASE_URL: options.databaseUrl, ...options.env },
    nodeArgs,
    keepOutput: 20_000,
    spawn: spawnChild
  })
  const { child, alive } = serve
  await untilReady(serve, 60_000)

  const kill = async () => {
    if (alive()) child.kill("SIGKILL")
    await serve.exited
  }
  const stop = async (graceMs = 20_000) => {
    if (!alive()) return
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
    await serve.exited
    clearTimeout(timer)
  }
  return {
    url: serve.url,
    port,
    inspectPort,
    pid: child.pid!,
    output: serve.output,
    rss: () => rssOf(child.pid!),
    stop,
    kill
  }
}

/**
 * A server of the bench's own (`baseline-server.ts`, `floor-server.ts`, `minimal-api.ts`) as a
 * child process, with more of Node's own flags if given.
 */
export const startBareServer = async (
  script: "baseline-server.ts" | "floor-server.ts" | "minimal-api.ts",
  env: Readonly<Record<string, string>>,
  nodeArgs: ReadonlyArray<string> = []
) => {
  const port = await freePort()
  const child = spawnChild(
    process.execPath,
    [...nodeArgs, fileURLToPath(new URL(`./${script}`, import.meta.url))],
    {
      env: { ...process.env, ...env, PORT: String(port) },
      stdio: ["ignore", "inherit", "inherit"]
    }
  )
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
  /** Ends it; again, or once it has exited, changes nothing. */
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
    await exited
  }
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    const ok = await fetch(`${url}/healthz`).then(
      (response) => response.ok,
      () => false
    )
    if (ok) break
    if (i > 600 || child.exitCode !== null) {
      await stop()
      throw new Error(`${script} did not start`)
    }
    await sleep(50)
  }
  return { pid: child.pid!, url: `${url}/webhooks/bare`, stop }
}
