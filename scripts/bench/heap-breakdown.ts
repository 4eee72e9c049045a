import { readFileSync } from "node:fs"

/**
 * What a heap grew by between two snapshots (heap-per-conversation.ts writes them), per owner,
 * divided by a count (the conversations added). Each reachable object is charged to its nearest
 * owner on the dominator tree (what would be freed with it): a function (named with its source
 * file and line, so effect/cluster's own closures and ours are told apart), an instance of a
 * named class, or a plain object (named by its first property names); arrays, closure contexts,
 * strings and V8's internals go to the owner above them. Objects only reachable through several
 * owners are charged to "(root)".
 *
 *   node --max-old-space-size=8000 scripts/bench/heap-breakdown.ts before.heapsnapshot after.heapsnapshot count [rows=60]
 */

interface Snapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: ReadonlyArray<string>
      readonly node_types: readonly [ReadonlyArray<string>, ...Array<unknown>]
      readonly edge_fields: ReadonlyArray<string>
      readonly edge_types: readonly [ReadonlyArray<string>, ...Array<unknown>]
    }
  }
  readonly nodes: ReadonlyArray<number>
  readonly edges: ReadonlyArray<number>
  readonly strings: ReadonlyArray<string>
  readonly locations: ReadonlyArray<number>
}

/** Containers named by what holds them, not charged as owners of their own. */
const generic = new Set(["Object", "Array", "Map", "Set", "WeakMap", "Promise", "Error"])

const shortPath = (url: string) =>
  url
    .replace(/^.*\/node_modules\/effect\/dist\//, "effect/")
    .replace(/^file:\/\/\/.*?\/packages\//, "packages/")

/** Self size per owner label, for the objects reachable from the root. */
const ownersOf = (path: string): Map<string, number> => {
  const s = JSON.parse(readFileSync(path, "utf8")) as Snapshot
  const nf = s.snapshot.meta.node_fields.length
  const ef = s.snapshot.meta.edge_fields.length
  const nodeTypes = s.snapshot.meta.node_types[0]
  const edgeTypes = s.snapshot.meta.edge_types[0]
  const { nodes, edges, strings } = s
  const n = nodes.length / nf
  const firstEdge = new Uint32Array(n + 1)
  for (let i = 0, e = 0; i < n; i++) {
    firstEdge[i] = e
    e += (nodes[i * nf + 4] ?? 0) * ef
  }
  firstEdge[n] = edges.length
  const at = (array: ArrayLike<number>, i: number) => array[i] ?? 0
  const typeOf = (i: number) => nodeTypes[at(nodes, i * nf)]
  const nameOf = (i: number) => strings[at(nodes, i * nf + 1)] ?? ""
  const edgeName = (e: number) => {
    const type = edgeTypes[at(edges, e)]
    return type === "element" || type === "hidden"
      ? String(at(edges, e + 1))
      : (strings[at(edges, e + 1)] ?? "")
  }
  const child = (i: number, name: string) => {
    for (let e = at(firstEdge, i); e < at(firstEdge, i + 1); e += ef)
      if (edgeName(e) === name) return at(edges, e + 2) / nf
    return undefined
  }
  const lineOf = new Map<number, number>()
  for (let i = 0; i < s.locations.length; i += 4)
    lineOf.set(at(s.locations, i) / nf, at(s.locations, i + 2) + 1)
  const ignored = new Set([edgeTypes.indexOf("weak"), edgeTypes.indexOf("shortcut")])

  // Depth-first post-order from the root (node 0), then dominators (Cooper, Harvey, Kennedy).
  const post = new Int32Array(n).fill(-1)
  const order = new Int32Array(n)
  const stack = new Int32Array(n)
  const next = new Uint32Array(n)
  const seen = new Uint8Array(n)
  let count = 0
  let sp = 0
  stack[sp] = 0
  next[sp++] = at(firstEdge, 0)
  seen[0] = 1
  while (sp > 0) {
    const v = at(stack, sp - 1)
    let e = at(next, sp - 1)
    let descended = false
    for (; e < at(firstEdge, v + 1); e += ef) {
      if (ignored.has(at(edges, e))) continue
      const to = at(edges, e + 2) / nf
      if (seen[to] === 1) continue
      seen[to] = 1
      next[sp - 1] = e + ef
      stack[sp] = to
      next[sp++] = at(firstEdge, to)
      descended = true
      break
    }
    if (!descended) {
      sp--
      post[v] = count
      order[count++] = v
    }
  }
  const predStart = new Uint32Array(n + 1)
  for (let v = 0; v < n; v++)
    if (seen[v] === 1)
      for (let e = at(firstEdge, v); e < at(firstEdge, v + 1); e += ef)
        if (!ignored.has(at(edges, e))) predStart[at(edges, e + 2) / nf + 1]++
  for (let i = 0; i < n; i++) predStart[i + 1] = at(predStart, i + 1) + at(predStart, i)
  const preds = new Int32Array(at(predStart, n))
  const fill = predStart.slice()
  for (let v = 0; v < n; v++)
    if (seen[v] === 1)
      for (let e = at(firstEdge, v); e < at(firstEdge, v + 1); e += ef) {
        if (ignored.has(at(edges, e))) continue
        const to = at(edges, e + 2) / nf
        preds[fill[to]!++] = v
      }
  const idom = new Int32Array(n).fill(-1)
  idom[0] = 0
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (at(post, a) < at(post, b)) a = at(idom, a)
      while (at(post, b) < at(post, a)) b = at(idom, b)
    }
    return a
  }
  for (let changed = true; changed; ) {
    changed = false
    for (let k = count - 2; k >= 0; k--) {
      const v = at(order, k)
      let dominator = -1
      for (let p = at(predStart, v); p < at(predStart, v + 1); p++) {
        const u = at(preds, p)
        if (at(idom, u) !== -1) dominator = dominator === -1 ? u : intersect(u, dominator)
      }
      if (dominator !== -1 && at(idom, v) !== dominator) {
        idom[v] = dominator
        changed = true
      }
    }
  }

  // Owners, from the root down (a dominator comes before what it dominates in reverse post-order).
  const label: Array<string> = new Array(n)
  label[0] = "(root)"
  for (let k = count - 2; k >= 0; k--) {
    const v = at(order, k)
    const type = typeOf(v)
    const name = nameOf(v)
    if (type === "closure") {
      const shared = child(v, "shared")
      const script = shared === undefined ? undefined : child(shared, "script")
      const url = script === undefined ? undefined : child(script, "name")
      label[v] =
        `fn ${name || "(anonymous)"} @ ${url === undefined ? "?" : shortPath(nameOf(url))}:${lineOf.get(v) ?? "?"}`
    } else if (type === "object" && name === "Object") {
      const props: Array<string> = []
      for (let e = at(firstEdge, v); e < at(firstEdge, v + 1) && props.length < 5; e += ef)
        if (edgeTypes[at(edges, e)] === "property" && edgeName(e) !== "__proto__") props.push(edgeName(e))
      label[v] = `{${props.join(",")}}`
    } else if (type === "object" && !name.startsWith("system /") && !generic.has(name)) {
      label[v] = `${name}`
    } else {
      label[v] = label[at(idom, v)] ?? "(root)"
    }
  }
  const bytes = new Map<string, number>()
  for (let v = 0; v < n; v++)
    if (seen[v] === 1) bytes.set(label[v]!, (bytes.get(label[v]!) ?? 0) + at(nodes, v * nf + 3))
  return bytes
}

const [beforePath, afterPath, countArg, rowsArg] = process.argv.slice(2)
if (beforePath === undefined || afterPath === undefined || countArg === undefined) {
  console.error("usage: heap-breakdown.ts before.heapsnapshot after.heapsnapshot count [rows]")
  process.exit(2)
}
const per = Number(countArg)
const before = ownersOf(beforePath)
const after = ownersOf(afterPath)
const sum = (map: Map<string, number>) => [...map.values()].reduce((a, b) => a + b, 0)
console.log(
  `reachable: ${sum(before)} -> ${sum(after)} bytes; ${Math.round((sum(after) - sum(before)) / per)} per 1 of ${per}`
)
const rows = [...new Set([...before.keys(), ...after.keys()])]
  .map((key) => [key, ((after.get(key) ?? 0) - (before.get(key) ?? 0)) / per] as const)
  .sort((a, b) => b[1] - a[1])
  .slice(0, Number(rowsArg ?? 60))
for (const [key, bytes] of rows) console.log(`${bytes.toFixed(0).padStart(7)} B  ${key.slice(0, 140)}`)
