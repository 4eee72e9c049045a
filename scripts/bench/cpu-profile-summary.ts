import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { type CallFrame, labelOf, sourceOf } from "./profile-frames.ts"

/**
 * Where a `--cpu-prof` profile's time goes: the hottest functions by self time, by inclusive
 * time (each function counted once per sample however deep it recurses), and self time per
 * source (a package in node_modules, or one of our files).
 *   node scripts/bench/cpu-profile-summary.ts <file.cpuprofile | directory> [top]
 */

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const top = (totals: Map<string, number>, all: number, count: number): Array<string> =>
  [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([label, micros]) => `  ${((100 * micros) / all).toFixed(1).padStart(5)}%  ${label}`)

export const summarizeProfile = (file: string, count = 20): string => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
  const byId = new Map<number, ProfileNode>()
  const parent = new Map<number, number>()
  for (const node of profile.nodes) {
    byId.set(node.id, node)
    for (const child of node.children ?? []) parent.set(child, node.id)
  }
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  const bySource = new Map<string, number>()
  const byFile = new Map<string, number>()
  let all = 0
  let idle = 0
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0
    const node = byId.get(id)
    if (node === undefined) return
    all += delta
    const label = labelOf(node.callFrame)
    if (node.callFrame.functionName === "(idle)") idle += delta
    self.set(label, (self.get(label) ?? 0) + delta)
    const source = sourceOf(node.callFrame.url, false)
    bySource.set(source, (bySource.get(source) ?? 0) + delta)
    const file = sourceOf(node.callFrame.url, true)
    byFile.set(file, (byFile.get(file) ?? 0) + delta)
    const seen = new Set<string>()
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const frame = byId.get(current)?.callFrame
      if (frame === undefined) break
      const name = labelOf(frame)
      if (seen.has(name)) continue
      seen.add(name)
      inclusive.set(name, (inclusive.get(name) ?? 0) + delta)
    }
  })
  return [
    `${relative(process.cwd(), file)}: ${(all / 1e6).toFixed(1)} s sampled, ${((100 * idle) / all).toFixed(0)}% idle`,
    "self time by function:",
    ...top(self, all, count),
    "inclusive time by function:",
    ...top(inclusive, all, count),
    "self time by package:",
    ...top(bySource, all, 12),
    "self time by file:",
    ...top(byFile, all, count)
  ].join("\n")
}

const profilesUnder = (path: string): Array<string> => {
  if (path.endsWith(".cpuprofile")) return [path]
  return readdirSync(path, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".cpuprofile"))
    .map((entry) => join(entry.parentPath, entry.name))
}

export const summarizeProfiles = (path: string, count = 20): string => {
  const files = profilesUnder(path)
  return files.length === 0
    ? `no CPU profiles under ${path} (a process killed with SIGKILL writes none)`
    : files.map((file) => summarizeProfile(file, count)).join("\n\n")
}

if (import.meta.main) {
  const [path, count] = process.argv.slice(2)
  if (path === undefined) {
    process.stderr.write(
      "usage: node scripts/bench/cpu-profile-summary.ts <file.cpuprofile | directory> [top]\n"
    )
    process.exit(2)
  }
  process.stdout.write(`${summarizeProfiles(path, count === undefined ? 20 : Number(count))}\n`)
}
