import { type ChildProcess, spawn } from "node:child_process"
import { Effect } from "effect"
import {
  freePort as anyFreePort,
  binPath,
  freePortOtherThan,
  portsIn,
  spawnServe,
  untilReady
} from "../../../scripts/serve-child.ts"

/**
 * The real service as an operator runs it: `node packages/server/src/bin.ts …` in a child
 * process (`scripts/serve-child.ts`), so tests can send it signals (SIGTERM, SIGKILL) and start it
 * again.
 */

/**
 * The admin token every server test seeds. Seeding a new value revokes the one seeded before it,
 * so tests sharing a database share this one.
 */
export const adminToken = "test-admin-token-for-server-tests"

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

export const freePort = Effect.promise(anyFreePort)

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
    const port = yield* Effect.promise(() => freePortOtherThan(portsIn(env)))
    const serve = yield* Effect.acquireRelease(
      Effect.sync(() => spawnServe({ port, adminToken, env })),
      (serve) =>
        Effect.sync(() => {
          if (serve.alive()) serve.child.kill("SIGKILL")
        })
    )
    yield* Effect.promise(() => untilReady(serve, 60_000)).pipe(Effect.orDie)
    return {
      url: serve.url,
      child: serve.child,
      output: serve.output,
      exited: Effect.promise(() => serve.exited)
    } satisfies RunningServer
  })
