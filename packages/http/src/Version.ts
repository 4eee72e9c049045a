import { readFileSync } from "node:fs"

/**
 * The release, as the checkout's root package.json states it (`/openapi.json`, `--version`,
 * traces). Where there is no file system (the console's bundle in a browser) it is "unknown".
 */
export const version: string = (() => {
  try {
    return (
      JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
        version: string
      }
    ).version
  } catch {
    return "unknown"
  }
})()
