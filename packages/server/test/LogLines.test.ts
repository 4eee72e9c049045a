import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import * as LogLines from "../src/LogLines.ts"

// The log's lines on stdout: one write per turn of the event loop, in order, none lost on exit.

const nextTurn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

describe("log lines", () => {
  it.effect("the lines of one turn go out in one write, in order, and the next turn's in another", () =>
    Effect.gen(function* () {
      const writes: Array<string> = []
      const original = console.log
      console.log = (text: string) => {
        writes.push(text)
      }
      try {
        const logged = Effect.provide(
          Effect.gen(function* () {
            yield* Effect.logInfo("first")
            yield* Effect.logWarning("second")
            assert.deepStrictEqual(writes, [], "nothing is written before the turn ends")
            yield* nextTurn
            yield* Effect.logError("third")
            yield* nextTurn
          }),
          Logger.layer([LogLines.toStdout(Logger.make((options) => String(options.message)))])
        )
        yield* logged
      } finally {
        console.log = original
      }
      assert.deepStrictEqual(writes, ["first\nsecond", "third"])
    })
  )

  it("writes the lines still waiting when the process exits in the turn that logged them", () => {
    const fixture = fileURLToPath(new URL("./fixtures/LogThenExit.ts", import.meta.url))
    const run = spawnSync(process.execPath, [fixture, "5"], { encoding: "utf8", timeout: 30_000 })
    assert.strictEqual(run.status, 3, run.stderr)
    assert.deepStrictEqual(run.stdout.trim().split("\n"), ["line 0", "line 1", "line 2", "line 3", "line 4"])
  })
})
