import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { launchChromium } from "./Chromium.ts"
import { fileDatabaseUrl } from "./FileDatabase.ts"
import { startServer } from "./ServerProcess.ts"

// The pages the service serves work on a machine with no internet: every request a page makes
// while it loads goes to the service itself (no CDN, no web fonts), and the page shows its content.

const databaseUrl = await fileDatabaseUrl()

describe("pages served offline", () => {
  it.live(
    "/docs and /console load everything from the service itself",
    () =>
      Effect.gen(function* () {
        const browser = yield* launchChromium
        const server = yield* startServer({ DATABASE_URL: databaseUrl })
        const origin = new URL(server.url).origin
        for (const [path, visible] of [
          ["/docs", /Webhooks/],
          ["/console", /Access token/i]
        ] as const) {
          const page = yield* Effect.promise(() => browser.newPage())
          const elsewhere: Array<string> = []
          const failed: Array<string> = []
          page.on("request", (request) => {
            const url = new URL(request.url())
            if (url.protocol !== "data:" && url.protocol !== "blob:" && url.origin !== origin) {
              elsewhere.push(request.url())
            }
          })
          page.on("requestfailed", (request) => failed.push(request.url()))
          // Nothing leaves the machine even by mistake: any other origin is refused here.
          yield* Effect.promise(() =>
            page.route(
              (url) => url.origin !== origin && url.protocol !== "data:" && url.protocol !== "blob:",
              (route) => route.abort()
            )
          )
          const response = yield* Effect.promise(() =>
            page.goto(`${server.url}${path}`, { waitUntil: "networkidle" })
          )
          assert.strictEqual(response?.status(), 200, path)
          // The page draws its content (the API's groups, the sign-in form) without the internet.
          yield* Effect.promise(() => page.getByText(visible).first().waitFor({ timeout: 15_000 }))
          assert.deepStrictEqual(elsewhere, [], `${path} asks nothing of another origin`)
          assert.deepStrictEqual(failed, [], `${path}: every request answered`)
          yield* Effect.promise(() => page.close())
        }
      }).pipe(Effect.scoped),
    { timeout: 60_000 }
  )
})
