import { readFileSync } from "node:fs"

/** The release, as the checkout's root package.json states it (`/openapi.json`, `--version`, traces). */
export const version: string = (
  JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }
).version
