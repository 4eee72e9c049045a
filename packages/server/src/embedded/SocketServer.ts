import { createServer, type Server, type Socket } from "node:net"
import type { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from "@electric-sql/pglite-socket"
import { SessionQueue } from "./SessionQueue.ts"
import { tooManyConnections } from "./WireProtocol.ts"

/**
 * The TCP side of the embedded server: a `node:net` server on one host and port whose clients each
 * get pglite-socket's per-connection protocol handler, all sharing one `SessionQueue`; beyond
 * `maxConnections` a client is refused as Postgres does (53300, "too many clients"). `stop` closes
 * the listener and every client, rolling back what a client left open.
 */

export interface Listening {
  readonly server: Server
  readonly handlers: Set<PGLiteSocketHandler>
  readonly open: Set<Socket>
  readonly port: number
}

export const listen = (
  db: PGlite,
  host: string,
  port: number,
  maxConnections: number
): Promise<Listening> => {
  const sockets = new Map<number, Socket>()
  const queue = new SessionQueue(db, (handlerId) => {
    sockets.get(handlerId)?.end()
    sockets.delete(handlerId)
  })
  // The handler's option names pglite-socket's own (unexported) queue class; SessionQueue has its shape.
  const queryQueue = queue as unknown as PGLiteSocketHandlerOptions["queryQueue"]
  const handlers = new Set<PGLiteSocketHandler>()
  const open = new Set<Socket>()
  const server = createServer((socket) => {
    open.add(socket)
    socket.once("close", () => open.delete(socket))
    if (sockets.size >= maxConnections) {
      socket.end(tooManyConnections(), () => socket.destroy())
      return
    }
    const handler = new PGLiteSocketHandler({ queryQueue, closeOnDetach: true })
    const forget = () => {
      handlers.delete(handler)
      sockets.delete(handler.handlerId)
    }
    handler.addEventListener("close", forget)
    handler.addEventListener("error", forget)
    handlers.add(handler)
    sockets.set(handler.handlerId, socket)
    handler.attach(socket).catch(() => {
      forget()
      socket.destroy()
    })
  })
  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, host, () => {
      server.off("error", reject)
      // Later errors belong to single connections, which the handlers deal with.
      server.on("error", () => {})
      const address = server.address()
      if (address === null || typeof address === "string") {
        server.close()
        reject(new Error(`Unexpected server address ${String(address)}`))
        return
      }
      resolve({ server, handlers, open, port: address.port })
    })
  })
}

export const stop = async ({ server, handlers, open }: Listening): Promise<void> => {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  // Detaching rolls back what a client left open; sockets that are not attached (refused, terminated) go too.
  await Promise.all(Array.from(handlers, (handler) => handler.detach(true)))
  handlers.clear()
  for (const socket of open) socket.destroy()
  await closed
}
