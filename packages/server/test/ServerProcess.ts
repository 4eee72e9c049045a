import { type ChildProcess, spawn } from "node:child_process"
import { createServer as createNetServer } from "node:net"
import { fileURLToPath } from "node:url"
import { Effect, Schedule } from "effect"

/**
 * The real service as an operator runs it: `node packages/server/src/bin.ts …` in a child
 * process, so tests can send it signals (SIGTERM, SIGKILL) and start it again.
 */

/**
 * The admin token every server test seeds. Seeding a new value revokes the one seeded before it,
 * so tests sharing a database share this one.
 */
export const adminToken = "test-admin-token-for-server-tests"

export const binPath = fileURLToPath(new URL("../src/bin.ts", import.meta.url))

export interface CommandResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs one CLI command to completion. */
export const runCli = (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>>,
  /** `cwd`: where it runs; `inheritEnv: false`: only `env`, none of this process's environment. */
  options: { readonly cwd?: string; readonly inheritEnv?: boolean } = {}
) =>
  Effect.callback<CommandResult>((resume) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: options.cwd,
      env: {
        ...(options.inheritEnv === false ? {} : process.env),
        LOG_LEVEL: "Warn",
        ALLOWED_ENDPOINT_NETWORKS: "127.0.0.0/8",
        ...env
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
  })

export const freePort = Effect.callback<number>((resume) => {
  const server = createNetServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

export interface RunningServer {
  readonly url: string
  readonly child: ChildProcess
  readonly output: () => string
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Effect.Effect<number | null>
}

/** Starts `serve` and waits until `/readyz` answers 200. The process is killed when the scope closes. */
export const startServer = (env: Readonly<Record<string, string>>) =>
  Effect.gen(function* () {
    const port = yield* freePort
    const url = `http://127.0.0.1:${port}`
    let output = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [binPath, "serve"], {
          env: {
            ...process.env,
            LOG_LEVEL: "Warn",
            HOST: "127.0.0.1",
            PORT: String(port),
            PUBLIC_URL: url,
            MESSAGING_API_ADMIN_TOKEN: adminToken,
            // Tests send bursts from one token and one address.
            RATE_LIMIT_PER_TOKEN: "off",
            AUTH_FAILURES_PER_IP: "off",
            // Receivers and bots are on loopback, which the endpoint guard refuses unless opened.
            ALLOWED_ENDPOINT_NETWORKS: "127.0.0.0/8",
            ...env
          },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        })
    )
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8")
    })
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8")
    })
    const exitPromise = new Promise<number | null>((resolve) => {
      child.on("exit", (code) => resolve(code))
    })
    const exited = Effect.promise(() => exitPromise)
    yield* Effect.tryPromise(() =>
      fetch(`${url}/readyz`).then((response) => response.ok || Promise.reject())
    ).pipe(
      Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 }),
      Effect.mapError(() => new Error(`the server did not become ready:\n${output}`)),
      Effect.orDie
    )
    return { url, child, output: () => output, exited } satisfies RunningServer
  })
