import { join, relative } from "node:path"

/** How V8's CPU and sampling heap profiles name a function: what the profile summaries share. */

export interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}

const root = join(import.meta.dirname, "..", "..")

const pathOf = (url: string) => (url.startsWith("file://") ? new URL(url).pathname : url)

/** A package (or, with `file`, a package's file), a node: module, or one of our files. */
export const sourceOf = (url: string, file: boolean): string => {
  if (url === "") return "(native/vm)"
  if (url.startsWith("node:")) return url
  const path = pathOf(url)
  const inPackage = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(path)
  if (inPackage !== null)
    return file ? `${inPackage[1]}/${inPackage[2]!.replace(/^dist\//, "")}` : inPackage[1]!
  return relative(root, path)
}

/** Whether a frame is in one of our files (not a package's, not Node's, not native). */
export const isOurs = (frame: CallFrame): boolean =>
  frame.url !== "" && !frame.url.startsWith("node:") && !frame.url.includes("node_modules")

/** A function's name, its file and line. */
export const labelOf = (frame: CallFrame): string => {
  const name = frame.functionName === "" ? "(anonymous)" : frame.functionName
  if (frame.url === "") return name
  const path = pathOf(frame.url)
  const short = path.includes("node_modules") ? path.replace(/.*node_modules\//, "") : relative(root, path)
  return `${name} ${short}:${frame.lineNumber + 1}`
}
