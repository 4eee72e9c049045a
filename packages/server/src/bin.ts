#!/usr/bin/env node
import { existsSync } from "node:fs"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Version } from "@messaging-api/http"
import { Cause, Effect, Exit, Runtime } from "effect"
import { Command } from "effect/cli"
import { cli } from "./Cli.ts"
import { describeStartupFailure } from "./StartupError.ts"

// A `.env` file in the working directory is read first; a variable set in the environment wins.
if (existsSync(".env")) {
  try {
    process.loadEnvFile(".env")
  } catch (error) {
    process.stderr.write(`messaging-api: .env: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  }
}

const program = Command.run(cli, { version: Version.version }).pipe(
  Effect.provide(NodeServices.layer),
  Effect.catchCause((cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.void
      : Effect.sync(() => {
          const message = describeStartupFailure(cause)
          // With LOG_FORMAT=json every line the process prints is JSON, its last words included.
          process.stderr.write(
            process.env.LOG_FORMAT?.trim().toLowerCase() === "json"
              ? `${JSON.stringify({ message: `messaging-api: ${message}`, level: "FATAL", timestamp: new Date().toISOString() })}\n`
              : `messaging-api: ${message}\n`
          )
          process.exitCode = 1
        })
  )
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  // SIGTERM/SIGINT interrupt the program, which drains and closes everything first: a clean exit,
  // not the 130 Effect gives an interrupted program by default.
  teardown: (exit, onExit) =>
    Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
      ? onExit(0)
      : Runtime.defaultTeardown(exit, onExit)
})
