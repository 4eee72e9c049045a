import { createConnection, createServer, type Server, type Socket } from "node:net"
import { Effect } from "effect"

/**
 * A TCP proxy in front of Postgres, so a test can take the database away from the server (cut
 * every connection, refuse new ones), make it stop answering (every byte held, connections left
 * open, as when a server hangs or a network drops packets), and give it back, on a real server or
 * the embedded one.
 */
export const startTcpProxy = (target: URL) =>
  Effect.gen(function* () {
    const sockets = new Set<Socket>()
    const pairs = new Set<readonly [Socket, Socket]>()
    let up = true
    let hung = false
    const flow = ([client, upstream]: readonly [Socket, Socket]) => {
      client.pipe(upstream)
      upstream.pipe(client)
    }
    const hold = ([client, upstream]: readonly [Socket, Socket]) => {
      client.unpipe(upstream)
      upstream.unpipe(client)
      client.pause()
      upstream.pause()
    }
    const server = yield* Effect.acquireRelease(
      Effect.callback<Server>((resume) => {
        const server = createServer((client) => {
          if (!up) {
            client.destroy()
            return
          }
          const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) })
          const pair = [client, upstream] as const
          for (const socket of pair) {
            sockets.add(socket)
            socket.on("close", () => {
              sockets.delete(socket)
              pairs.delete(pair)
            })
            socket.on("error", () => socket.destroy())
          }
          pairs.add(pair)
          if (hung) hold(pair)
          else flow(pair)
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
      }),
      /** Holds every byte both ways, on open connections and new ones, without closing anything. */
      hang: Effect.sync(() => {
        hung = true
        for (const pair of pairs) hold(pair)
      }),
      /** Lets the held bytes and everything after them through again. */
      answer: Effect.sync(() => {
        hung = false
        for (const pair of pairs) flow(pair)
      })
    }
  })
