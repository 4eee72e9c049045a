import { readFileSync } from "node:fs"
import { Option, Schema } from "effect"

/** The part of package.json read here. */
const PackageJson = Schema.fromJsonString(Schema.Struct({ version: Schema.String }))

const readPackageJson = (): string => {
  try {
    return readFileSync(new URL("../../../package.json", import.meta.url), "utf8")
  } catch {
    return ""
  }
}

/**
 * The release, as the checkout's root package.json states it (`/openapi.json`, `--version`,
 * traces). Where there is no file system (the console's bundle in a browser) it is "unknown".
 */
export const version: string = Schema.decodeUnknownOption(PackageJson)(readPackageJson()).pipe(
  Option.match({ onNone: () => "unknown", onSome: (found) => found.version })
)
