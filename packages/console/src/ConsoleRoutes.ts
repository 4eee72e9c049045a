import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { type Asset, type Assets, ConsoleAssets } from "./ConsoleAssets.ts"

/** `GET /console` and its two files, served by the service itself: no CDN, no fonts from elsewhere. */

export const path = "/console"

/** Everything the page loads comes from this service; the API is called on the same origin. */
const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

const serve = (pick: (assets: Assets) => Asset) =>
  Effect.gen(function* () {
    const console = yield* ConsoleAssets
    return yield* console.assets.pipe(
      Effect.map((assets) => {
        const asset = pick(assets)
        return HttpServerResponse.uint8Array(asset.body, {
          contentType: asset.contentType,
          headers: {
            "cache-control": "no-cache",
            "content-security-policy": contentSecurityPolicy,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer"
          }
        })
      }),
      Effect.catchTag("ConsoleUnavailable", (error) =>
        HttpServerResponse.json(
          { error: { code: "console_unavailable", message: error.message } },
          { status: 503 }
        ).pipe(Effect.orDie)
      )
    )
  })

/** Needs `ConsoleAssets`. */
export const routes = Layer.mergeAll(
  HttpRouter.add(
    "GET",
    path,
    serve((assets) => assets.page)
  ),
  HttpRouter.add(
    "GET",
    `${path}/app.js`,
    serve((assets) => assets.script)
  ),
  HttpRouter.add(
    "GET",
    `${path}/console.css`,
    serve((assets) => assets.stylesheet)
  )
)
