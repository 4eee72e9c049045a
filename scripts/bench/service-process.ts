import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process"
import { mkdirSync, readFileSync } from "node:fs"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

/**
 * The real service in a child process, started as an operator starts it
 * (`node packages/server/src/bin.ts serve`), so the bench can read its RSS, SIGKILL it and
 * start it again. `cpuProfDir` adds `--cpu-prof`: the profile is written when it exits cleanly.
 */

export const binPath = fileURLToPath(new URL("../../packages/server/src/bin.ts", import.meta.url))

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

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

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
  const port = options.port ?? (await freePort())
  const url = `http://127.0.0.1:${port}`
  const nodeArgs: Array<string> = []
  if (options.cpuProfDir !== undefined) {
    mkdirSync(options.cpuProfDir, { recursive: true })
    nodeArgs.push("--cpu-prof", "--cpu-prof-dir", options.cpuProfDir)
  }
  const inspectPort = options.inspect === true ? await freePort() : undefined
  if (inspectPort !== undefined) nodeArgs.push(`--inspect=127.0.0.1:${inspectPort}`)
  const child = spawnChild(process.execPath, [...nodeArgs, binPath, "serve"], {
    env: {
      ...process.env,
      LOG_LEVEL: "Warn",
      HOST: "127.0.0.1",
      PORT: String(port),
      PUBLIC_URL: url,
      DATABASE_URL: options.databaseUrl,
      MESSAGING_API_ADMIN_TOKEN: adminToken,
      // The bench drives the service from one token and one address, far above per-caller limits.
      RATE_LIMIT_PER_TOKEN: "off",
      AUTH_FAILURES_PER_IP: "off",
      // Receivers and bots are on loopback, which the endpoint guard refuses unless opened.
      ALLOWED_ENDPOINT_NETWORKS: "127.0.0.0/8",
      ...options.env
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-20_000)
  }
  child.stdout?.on("data", keep)
  child.stderr?.on("data", keep)
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
  const alive = () => child.exitCode === null && child.signalCode === null

  const deadline = Date.now() + 60_000
  for (;;) {
    if (!alive()) throw new Error(`the service exited before it was ready:\n${output}`)
    const ready = await fetch(`${url}/readyz`).then(
      (response) => response.ok,
      () => false
    )
    if (ready) break
    if (Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new Error(`the service was not ready within 60 s:\n${output}`)
    }
    await sleep(50)
  }

  const kill = async () => {
    if (alive()) child.kill("SIGKILL")
    await exited
  }
  const stop = async (graceMs = 20_000) => {
    if (!alive()) return
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
    await exited
    clearTimeout(timer)
  }
  return {
    url,
    port,
    inspectPort,
    pid: child.pid!,
    output: () => output,
    rss: () => rssOf(child.pid!),
    stop,
    kill
  }
}
