import { readFileSync } from "node:fs"
import { type CallFrame, isOurs, labelOf, sourceOf } from "./profile-frames.ts"

/**
 * Where a sampling heap profile's allocations were made (`steady-load.ts HEAP=<file>`, or any
 * `HeapProfiler.stopSampling` profile): bytes by allocating function, by source (a package, a
 * node: module, one of our files), and by the nearest of our own functions on the stack, so that
 * allocations inside effect or a driver are charged to the code of ours that asked for them.
 *   node scripts/bench/heap-profile-summary.ts <file.heapprofile> [top] [messages]
 * With `messages`, each line also gives bytes per message.
 */

interface HeapNode {
  readonly callFrame: CallFrame
  readonly selfSize: number
  readonly children: ReadonlyArray<HeapNode>
}

const [file, topArg, messagesArg] = process.argv.slice(2)
if (file === undefined) throw new Error("usage: heap-profile-summary.ts <file.heapprofile> [top] [messages]")
const top = Number(topArg ?? 30)
const messages = messagesArg === undefined ? undefined : Number(messagesArg)
const profile = JSON.parse(readFileSync(file, "utf8")) as { readonly head: HeapNode }

const byFunction = new Map<string, number>()
const bySource = new Map<string, number>()
const byOwnCaller = new Map<string, number>()
let total = 0
const add = (map: Map<string, number>, key: string, bytes: number) =>
  map.set(key, (map.get(key) ?? 0) + bytes)
const walk = (node: HeapNode, ownCaller: string) => {
  const caller = isOurs(node.callFrame) ? labelOf(node.callFrame) : ownCaller
  if (node.selfSize > 0) {
    total += node.selfSize
    add(byFunction, labelOf(node.callFrame), node.selfSize)
    add(bySource, sourceOf(node.callFrame.url, true), node.selfSize)
    add(byOwnCaller, caller, node.selfSize)
  }
  for (const child of node.children) walk(child, caller)
}
walk(profile.head, "(none of ours on the stack)")

const show = (title: string, map: Map<string, number>) => {
  console.log(title)
  for (const [key, bytes] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    const share = `${((bytes / total) * 100).toFixed(1)}%`.padStart(6)
    const perMessage = messages === undefined ? "" : `  ${(bytes / messages / 1024).toFixed(1)} KB/msg`
    console.log(`${share}${perMessage}  ${key}`)
  }
}
console.log(
  `${file}: ${(total / 1024 / 1024).toFixed(1)} MB sampled` +
    (messages === undefined ? "" : `, ${(total / messages / 1024).toFixed(1)} KB a message`)
)
show("bytes by allocating function:", byFunction)
show("bytes by source:", bySource)
show("bytes by the nearest function of ours on the stack:", byOwnCaller)
