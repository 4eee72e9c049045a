#!/usr/bin/env node
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Version } from "@messaging-api/http"
import { Cause, Effect, Exit, Runtime } from "effect"
import { Command } from "effect/cli"
import { cli } from "./Cli.ts"
import { describeStartupFailure } from "./StartupError.ts"

const program = Command.run(cli, { version: Version.version }).pipe(
  Effect.provide(NodeServices.layer),
  Effect.catchCause((cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.void
      : Effect.sync(() => {
          process.stderr.write(`messaging-api: ${describeStartupFailure(cause)}\n`)
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
