import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { type CallFrame, labelOf, sourceOf } from "./profile-frames.ts"

/**
 * Two CPU profiles side by side, as microseconds of self time per unit of work (a request, a
 * message): each function's (or file's) time divided by the work its process did, sorted by how
 * much more the second spends than the first. For two processes doing the same work in different
 * ways (`http-path.ts` with PROFILE_DIR: the minimal `HttpApi` app and the service), it says where
 * the difference goes. A profile covers its process's whole life, so start-up shows too (module
 * loading), spread over the work.
 *   node scripts/bench/cpu-profile-compare.ts <a.cpuprofile | dir> <work a> <b.cpuprofile | dir> <work b>
 *     [function | file] [top=40]
 */

interface Profile {
  readonly nodes: ReadonlyArray<{ readonly id: number; readonly callFrame: CallFrame }>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const load = (path: string): Profile => {
  const file = path.endsWith(".cpuprofile")
    ? path
    : readdirSync(path)
        .filter((name) => name.endsWith(".cpuprofile"))
        .map((name) => join(path, name))[0]
  if (file === undefined) throw new Error(`no CPU profile under ${path}`)
  return JSON.parse(readFileSync(file, "utf8")) as Profile
}

/** Self time per key, idle left out, in microseconds. */
const selfTime = (profile: Profile, keyOf: (frame: CallFrame) => string): Map<string, number> => {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  const totals = new Map<string, number>()
  profile.samples.forEach((id, index) => {
    const frame = frames.get(id)
    if (frame === undefined || frame.functionName === "(idle)") return
    const key = keyOf(frame)
    totals.set(key, (totals.get(key) ?? 0) + (profile.timeDeltas[index] ?? 0))
  })
  return totals
}

export const compareProfiles = (
  a: { readonly path: string; readonly work: number },
  b: { readonly path: string; readonly work: number },
  by: "function" | "file",
  top: number
): string => {
  const keyOf = by === "file" ? (frame: CallFrame) => sourceOf(frame.url, true) : labelOf
  const first = selfTime(load(a.path), keyOf)
  const second = selfTime(load(b.path), keyOf)
  const rows = [...new Set([...first.keys(), ...second.keys()])]
    .map((key) => ({ key, a: (first.get(key) ?? 0) / a.work, b: (second.get(key) ?? 0) / b.work }))
    .sort((x, y) => y.b - y.a - (x.b - x.a))
  const sum = (side: "a" | "b") => rows.reduce((total, row) => total + row[side], 0)
  const cell = (value: number) => value.toFixed(1).padStart(8)
  return [
    `µs of CPU per unit of work (idle left out): ${sum("a").toFixed(1)} in the first, ${sum("b").toFixed(1)} in the second`,
    `${"first".padStart(8)}${"second".padStart(8)}${"more".padStart(8)}  ${by}`,
    ...rows.slice(0, top).map((row) => `${cell(row.a)}${cell(row.b)}${cell(row.b - row.a)}  ${row.key}`)
  ].join("\n")
}

if (import.meta.main) {
  const [a, workA, b, workB, by = "function", top = "40"] = process.argv.slice(2)
  if (a === undefined || workA === undefined || b === undefined || workB === undefined) {
    process.stderr.write(
      "usage: node scripts/bench/cpu-profile-compare.ts <a> <work a> <b> <work b> [function | file] [top]\n"
    )
    process.exit(2)
  }
  process.stdout.write(
    `${compareProfiles(
      { path: a, work: Number(workA) },
      { path: b, work: Number(workB) },
      by === "file" ? "file" : "function",
      Number(top)
    )}\n`
  )
}
