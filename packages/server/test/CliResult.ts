import { assert } from "@effect/vitest"
import type { CommandResult } from "./ServerProcess.ts"

/** The command's stdout, once it exited 0. */
export const succeeded = (result: CommandResult) => {
  assert.strictEqual(result.code, 0, `exit code; stderr:\n${result.stderr}`)
  return result.stdout
}

/** The stdout of a successful `--json` command, parsed. */
// biome-ignore lint/suspicious/noExplicitAny: test assertions read into arbitrary JSON
export const parseJson = (result: CommandResult): any => JSON.parse(succeeded(result))

/** The stdout of a successful NDJSON command: one parsed value a line. */
// biome-ignore lint/suspicious/noExplicitAny: test assertions read into arbitrary JSON
export const ndjson = (result: CommandResult): ReadonlyArray<any> =>
  succeeded(result)
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line))

/** A user error: exit 1, nothing on stdout, one line on stderr naming the problem, no stack trace. */
export const assertUserError = (result: CommandResult, expected: RegExp) => {
  assert.strictEqual(result.code, 1, `exit code; stdout:\n${result.stdout}`)
  assert.strictEqual(result.stdout, "")
  const lines = result.stderr.trim().split("\n")
  assert.strictEqual(lines.length, 1, `one line, got:\n${result.stderr}`)
  assert.match(lines[0]!, /^messaging-api: /)
  assert.match(lines[0]!, expected)
  assert.notMatch(result.stderr, /\bat .*\.ts:\d+/, "no stack trace")
}
