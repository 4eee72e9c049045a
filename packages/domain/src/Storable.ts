import { Schema } from "effect"

/**
 * Text and JSON that can become events: Postgres stores neither a NUL character nor a lone UTF-16
 * surrogate (in `text` or in `jsonb`), and the service walks JSON it keeps (fingerprints,
 * projections), so nesting is bounded. Every value from outside passes these checks at the
 * boundary and is refused there with a 400 that names it — never turned into a database error.
 */

/** JSON nested deeper than this (objects and arrays) is refused. */
export const MAX_JSON_DEPTH = 64

/** Why a string cannot be stored, or undefined. */
export const textProblem = (value: string): string | undefined => {
  if (value.includes("\u0000")) return "must not contain NUL characters (\\u0000)"
  if (!value.isWellFormed()) return "must not contain lone UTF-16 surrogates"
  return undefined
}

/** Why a JSON value cannot be stored (with where inside it), or undefined. Iterative: any depth is safe to check. */
export const jsonProblem = (value: unknown): string | undefined => {
  const stack: Array<{ readonly value: unknown; readonly path: string; readonly depth: number }> = [
    { value, path: "", depth: 0 }
  ]
  const at = (path: string) => (path === "" ? "" : `at ${path}: `)
  while (stack.length > 0) {
    const item = stack.pop()!
    if (typeof item.value === "string") {
      const problem = textProblem(item.value)
      if (problem !== undefined) return `${at(item.path)}${problem}`
      continue
    }
    if (typeof item.value !== "object" || item.value === null) continue
    const depth = item.depth + 1
    if (depth > MAX_JSON_DEPTH) return `${at(item.path)}nested deeper than ${MAX_JSON_DEPTH} levels`
    if (Array.isArray(item.value)) {
      item.value.forEach((element, i) => {
        stack.push({ value: element, path: `${item.path}[${i}]`, depth })
      })
      continue
    }
    for (const [key, element] of Object.entries(item.value)) {
      const path = item.path === "" ? key : `${item.path}.${key}`
      const problem = textProblem(key)
      if (problem !== undefined) return `${at(path)}the key ${problem}`
      stack.push({ value: element, path, depth })
    }
  }
  return undefined
}

/** The check of a string Postgres can store. */
export const isStorableText = Schema.makeFilter((value: string) => textProblem(value))

/** A string Postgres can store. */
export const StorableString = Schema.String.check(isStorableText)

/** Any JSON Postgres can store, nested at most `MAX_JSON_DEPTH` levels. */
export const StorableJson = Schema.Json.check(Schema.makeFilter((value: Schema.Json) => jsonProblem(value)))
