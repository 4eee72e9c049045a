import { createServer, type RequestListener, type Server } from "node:http"
import { Effect } from "effect"

/**
 * An HTTP server on 127.0.0.1, on a port of its own, for as long as the scope lives (its
 * connections are closed with it): what a test stands up in place of an application's endpoint,
 * a bot or a trace collector. `onClose` runs first, for what the handler holds open.
 */
export const listenOnLoopback = (handler: RequestListener, onClose: () => void = () => {}) =>
  Effect.gen(function* () {
    const server = yield* Effect.acquireRelease(
      Effect.callback<Server>((resume) => {
        const server = createServer(handler)
        server.keepAliveTimeout = 1000
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.callback<void>((resume) => {
          onClose()
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    return `http://127.0.0.1:${port}`
  })
