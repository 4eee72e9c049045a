import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"

/**
 * `messaging-api serve` in a child process, started as an operator starts it
 * (`node packages/server/src/bin.ts serve`) on a loopback port: the real service that the
 * server's tests and the bench drive, send signals to (SIGTERM, SIGKILL) and start again.
 */

export const binPath = fileURLToPath(new URL("../packages/server/src/bin.ts", import.meta.url))

/** A port nothing listens on at the moment, on 127.0.0.1. */
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

/**
 * A free port that is none of `taken`: ports come free from the kernel, which can hand the same
 * one out twice once a probe has closed it (a second listener of the service then takes its port).
 */
export const freePortOtherThan = async (taken: ReadonlyArray<number>): Promise<number> => {
  for (;;) {
    const port = await freePort()
    if (!taken.includes(port)) return port
  }
}

/** The ports a service's environment already names (its cluster's), which its HTTP port must not be. */
export const portsIn = (env: Readonly<Record<string, string>> | undefined): ReadonlyArray<number> =>
  env?.CLUSTER_PORT === undefined ? [] : [Number(env.CLUSTER_PORT)]

export interface ServeOptions {
  readonly port: number
  /** Seeded as MESSAGING_API_ADMIN_TOKEN. */
  readonly adminToken: string
  /** Over the defaults below (DATABASE_URL, PASSIVATE_AFTER, CLUSTER_PORT, …). */
  readonly env?: Readonly<Record<string, string>>
  /** Node's own flags (`--cpu-prof`, `--inspect`, …). */
  readonly nodeArgs?: ReadonlyArray<string>
  /** How much of its output to keep, the latest characters; all of it when absent. */
  readonly keepOutput?: number
  /** How to start the process; node's `spawn` unless the caller keeps track of its children. */
  readonly spawn?: (command: string, args: ReadonlyArray<string>, options: SpawnOptions) => ChildProcess
}

export interface ServeChild {
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  /** What it printed, stdout and stderr together. */
  readonly output: () => string
  /** Settles with the exit code once the process has exited. */
  readonly exited: Promise<number | null>
  /** Neither exited nor killed by a signal. */
  readonly alive: () => boolean
}

/**
 * Starts `serve` on 127.0.0.1 with the admin token seeded, per-caller rate limits off (tests and
 * the bench send bursts from one token and one address) and loopback endpoints allowed (receivers
 * and bots are on loopback, which the endpoint guard refuses unless opened).
 */
export const spawnServe = (options: ServeOptions): ServeChild => {
  const url = `http://127.0.0.1:${options.port}`
  const child = (options.spawn ?? spawn)(process.execPath, [...(options.nodeArgs ?? []), binPath, "serve"], {
    env: {
      ...process.env,
      LOG_LEVEL: "Warn",
      HOST: "127.0.0.1",
      PORT: String(options.port),
      PUBLIC_URL: url,
      MESSAGING_API_ADMIN_TOKEN: options.adminToken,
      RATE_LIMIT_PER_TOKEN: "off",
      AUTH_FAILURES_PER_IP: "off",
      ALLOWED_ENDPOINT_NETWORKS: "127.0.0.0/8",
      ...options.env
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const keep = (chunk: Buffer) => {
    output += chunk.toString("utf8")
    if (options.keepOutput !== undefined) output = output.slice(-options.keepOutput)
  }
  child.stdout?.on("data", keep)
  child.stderr?.on("data", keep)
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return {
    url,
    port: options.port,
    child,
    output: () => output,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null
  }
}

/**
 * Resolves once `/readyz` answers 200. Rejects, with what the process printed, when it exits
 * first or is not ready within `timeoutMs` (then it is killed).
 */
export const untilReady = async (serve: ServeChild, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (!serve.alive()) throw new Error(`the service exited before it was ready:\n${serve.output()}`)
    const ready = await fetch(`${serve.url}/readyz`).then(
      (response) => response.ok,
      () => false
    )
    if (ready) return
    if (Date.now() > deadline) {
      serve.child.kill("SIGKILL")
      throw new Error(`the service was not ready within ${timeoutMs / 1000} s:\n${serve.output()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
