import { createConnection, createServer, type Server, type Socket } from "node:net"
import { Effect } from "effect"

/**
 * A TCP proxy in front of Postgres, so a test can take the database away from the server (cut
 * every connection, refuse new ones) and give it back, on a real server or the embedded one.
 */
export const startTcpProxy = (target: URL) =>
  Effect.gen(function* () {
    const sockets = new Set<Socket>()
    let up = true
    const server = yield* Effect.acquireRelease(
      Effect.callback<Server>((resume) => {
        const server = createServer((client) => {
          if (!up) {
            client.destroy()
            return
          }
          const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) })
          for (const socket of [client, upstream]) {
            sockets.add(socket)
            socket.on("close", () => sockets.delete(socket))
            socket.on("error", () => socket.destroy())
          }
          client.pipe(upstream).pipe(client)
          client.on("close", () => upstream.destroy())
          upstream.on("close", () => client.destroy())
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.callback<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    const url = new URL(target)
    url.hostname = "127.0.0.1"
    url.port = String(port)
    return {
      url: url.toString(),
      /** Cuts every open connection and refuses new ones. */
      down: Effect.sync(() => {
        up = false
        for (const socket of sockets) socket.destroy()
      }),
      up: Effect.sync(() => {
        up = true
      })
    }
  })
