/**
 * The embedded Postgres used when DATABASE_URL is unset: PGlite (Postgres compiled to WASM) served on
 * 127.0.0.1 through `@electric-sql/pglite-socket`, so `@effect/sql-pg` talks to it over TCP like to any
 * server. No TLS: the socket answers `SSLRequest` with `N` (sql-pg only asks with `sslmode` in the URL).
 *
 * Why this file keeps pglite-socket's per-connection handler but replaces its query queue (read in
 * pglite-socket 0.2.17's dist, measured with @effect/sql-pg 4.0.5):
 *
 * - PGlite is ONE backend, ONE session. pglite-socket accepts several TCP clients (its server defaults to
 *   `maxConnections: 1`) and runs every protocol message of every client through one global FIFO, one
 *   message at a time: nothing runs in parallel, clients only interleave.
 * - Its queue sticks to one client only while `isInTransaction()` (inside BEGIN..COMMIT), so concurrent
 *   `withTransaction` blocks already run one after the other. Otherwise it switches clients between
 *   single messages, and around a BEGIN/COMMIT another client's Bind/Execute lands inside a Parse..Sync
 *   sequence; they share the unnamed portal. With a pool of 4 or 12, plain queries concurrent with a
 *   transaction failed with `portal "" does not exist` / "Unexpected ReadyForQuery during bind" (and one
 *   client could run another's portal). `SessionQueue` keeps the session with a client until the backend
 *   sends it ReadyForQuery "idle", so statements and transactions never interleave; a client that leaves
 *   mid-sequence or mid-transaction gets a Sync and a ROLLBACK; Terminate closes its socket (as Postgres).
 * - LISTEN/NOTIFY: the session listens once any client ran LISTEN, and the NotificationResponse comes out
 *   with the command that committed the NOTIFY, i.e. on the notifier's socket, where sql-pg drops it: a
 *   `PgClient.listen` connection never heard another connection's notify. `SessionQueue` copies every
 *   NotificationResponse to all other clients (sql-pg keeps those of channels it listens to, drops the
 *   rest). One UNLISTEN stops the session listening for everyone: keep one listener per channel.
 * - Transactions run one at a time, so xid8 columns, `pg_current_xact_id()` and
 *   `pg_snapshot_xmin(pg_current_snapshot())` work, and xmin is always the current or next xid: no
 *   transaction is ever in flight behind a reader.
 * - Limits: no parallelism (a bigger pool adds waiters, not throughput); a client inside a transaction
 *   blocks every other one with no timeout, so code that waits inside a transaction for a query on
 *   ANOTHER connection deadlocks, and new connections wait too (sql-pg's connect timeout can fire);
 *   session state (SET, temp tables, advisory locks) is shared; CancelRequest is ignored; a data
 *   directory must not be opened by two processes. sql-pg's prepared statement names carry a random
 *   per-connection prefix, so they do not collide.
 */
import { mkdir } from "node:fs/promises"
import { createServer, type Server, type Socket } from "node:net"
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from "@electric-sql/pglite-socket"
import { Context, Effect, Layer, Schema, type Scope } from "effect"

export class EmbeddedPostgresError extends Schema.TaggedError<EmbeddedPostgresError>()(
  "EmbeddedPostgresError",
  {
    message: Schema.String,
    cause: Schema.optional(Schema.Defect())
  }
) {}

export interface EmbeddedPostgresOptions {
  /** Directory holding the cluster; created if missing. Omit it (or set `memory`) for an in-memory database. */
  readonly dataDir?: string | undefined
  /** Forces an in-memory database even when `dataDir` is set. */
  readonly memory?: boolean | undefined
  /** TCP port on 127.0.0.1; `0` (the default) lets the OS pick a free one. */
  readonly port?: number | undefined
  /** Clients accepted at once; must cover the pool plus listener connections. Defaults to 64. */
  readonly maxConnections?: number | undefined
}

export interface EmbeddedPostgresInfo {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`, no password, TLS off. */
  readonly url: string
  readonly host: string
  readonly port: number
  /** `undefined` when the database lives in memory. */
  readonly dataDir: string | undefined
}

const host = "127.0.0.1"

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

// ---------------------------------------------------------------------------------------------------------
// Wire protocol bits

const NOTIFICATION_RESPONSE = 0x41 // 'A'
const READY_FOR_QUERY = 0x5a // 'Z'
const IDLE = 0x49 // 'I': ReadyForQuery status outside a transaction block
const TERMINATE = 0x58 // 'X'

const protocolMessage = (type: string, body: string): Uint8Array => {
  const text = Buffer.from(body, "utf8")
  const message = Buffer.alloc(5 + text.length)
  message.write(type, 0, "latin1")
  message.writeInt32BE(4 + text.length, 1)
  text.copy(message, 5)
  return message
}
const SYNC = protocolMessage("S", "")
const ROLLBACK = protocolMessage("Q", "ROLLBACK\0")

const tooManyConnections = (): Uint8Array => {
  const fields = "SFATAL\0VFATAL\0C53300\0Msorry, too many clients already\0\0"
  return protocolMessage("E", fields)
}

/**
 * Follows the backend's output across chunks and reports the messages the queue acts on:
 * ReadyForQuery (whose status says whether the session is free) and NotificationResponse.
 */
class BackendMessages {
  #header = new Uint8Array(5)
  #headerLength = 0
  #remaining = 0
  #kept: Array<Uint8Array> | undefined

  reset(): void {
    this.#headerLength = 0
    this.#kept = undefined
  }

  push(chunk: Uint8Array, onMessage: (type: number, message: Uint8Array) => void): void {
    let offset = 0
    while (offset < chunk.length) {
      if (this.#headerLength < 5) {
        const n = Math.min(5 - this.#headerLength, chunk.length - offset)
        this.#header.set(chunk.subarray(offset, offset + n), this.#headerLength)
        this.#headerLength += n
        offset += n
        if (this.#headerLength < 5) return
        const type = this.#header[0]
        this.#remaining = new DataView(this.#header.buffer).getInt32(1) - 4
        this.#kept =
          type === READY_FOR_QUERY || type === NOTIFICATION_RESPONSE ? [this.#header.slice()] : undefined
      }
      const n = Math.min(this.#remaining, chunk.length - offset)
      if (n > 0) this.#kept?.push(chunk.slice(offset, offset + n))
      this.#remaining -= n
      offset += n
      if (this.#remaining === 0) {
        if (this.#kept !== undefined) onMessage(this.#header[0], Buffer.concat(this.#kept))
        this.reset()
      }
    }
  }
}

interface Entry {
  readonly handlerId: number
  /** A protocol message, or the clean-up after the client went away. */
  readonly message: Uint8Array | "disconnected"
  readonly onData: (data: Uint8Array) => void
  readonly resolve: (bytes: number) => void
  readonly reject: (cause: unknown) => void
}

const discard = () => {}

/**
 * Drop-in for pglite-socket's QueryQueueManager (`enqueue`, `clearQueueForHandler`,
 * `clearTransactionIfNeeded`, `getQueueLength`), see the header for why.
 */
class SessionQueue {
  readonly #db: PGlite
  readonly #output = new BackendMessages()
  #queue: Array<Entry> = []
  #running = false
  /** The client the session belongs to until the backend is idle again. */
  #owner: number | undefined
  /** How to reach every started-up client, for copies of notifications. */
  readonly #clients = new Map<number, (data: Uint8Array) => void>()
  readonly #close: (handlerId: number) => void

  /** `close` ends a client's socket: Postgres does so on Terminate, and clients wait for it. */
  constructor(db: PGlite, close: (handlerId: number) => void) {
    this.#db = db
    this.#close = close
  }

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return this.#push(handlerId, message, onData)
  }

  #push(handlerId: number, message: Entry["message"], onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ handlerId, message, onData, resolve, reject })
      this.#drain()
    })
  }

  getQueueLength(): number {
    return this.#queue.length
  }

  clearQueueForHandler(handlerId: number): void {
    this.#clients.delete(handlerId)
    this.#queue = this.#queue.filter((entry) => {
      if (entry.handlerId !== handlerId) return true
      entry.reject(new Error("Handler disconnected"))
      return false
    })
  }

  /**
   * Queued rather than run at once: a message of this client may be executing right now and leave the
   * session mid-sequence, after which only this client's entries can run.
   */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    await this.#push(handlerId, "disconnected", discard).catch(discard)
  }

  #drain(): void {
    if (this.#running) return
    this.#running = true
    void this.#loop().finally(() => {
      this.#running = false
    })
  }

  async #loop(): Promise<void> {
    for (;;) {
      const owner = this.#owner
      const index = owner === undefined ? 0 : this.#queue.findIndex((entry) => entry.handlerId === owner)
      const entry = index === -1 ? undefined : this.#queue.splice(index, 1)[0]
      if (entry === undefined) return
      if (entry.message === "disconnected") await this.#cleanUp(entry)
      else if (entry.message[0] === TERMINATE) {
        // Not for PGlite: the one session outlives every client.
        await this.#cleanUp(entry)
        this.#close(entry.handlerId)
      } else await this.#run(entry, entry.message)
    }
  }

  /** A Sync ends a half-sent extended-protocol sequence (and its error state), a ROLLBACK an open block. */
  async #cleanUp(entry: Entry): Promise<void> {
    const { handlerId } = entry
    for (const message of [SYNC, ROLLBACK]) {
      if (this.#owner !== handlerId) break
      await this.#run({ ...entry, onData: discard, resolve: discard, reject: discard }, message)
    }
    if (this.#owner === handlerId) this.#owner = undefined
    this.#clients.delete(handlerId)
    entry.resolve(0)
  }

  async #run(entry: Entry, message: Uint8Array): Promise<void> {
    let ready: number | undefined
    let bytes = 0
    try {
      await this.#db.runExclusive(() =>
        this.#db.execProtocolRawStream(message, {
          onRawData: (data) => {
            bytes += data.length
            this.#output.push(data, (type, backendMessage) => {
              if (type === READY_FOR_QUERY) ready = backendMessage[5]
              else this.#broadcast(entry.handlerId, backendMessage)
            })
            entry.onData(data)
          }
        })
      )
    } catch (cause) {
      // The backend state is unknown: keep the session with this client, whose disconnect cleans it up.
      this.#output.reset()
      this.#owner = entry.handlerId
      entry.reject(cause)
      return
    }
    this.#owner = ready === IDLE ? undefined : entry.handlerId
    if (entry.message !== "disconnected") this.#clients.set(entry.handlerId, entry.onData)
    entry.resolve(bytes)
  }

  #broadcast(from: number, notification: Uint8Array): void {
    for (const [handlerId, send] of this.#clients) {
      if (handlerId !== from) send(notification)
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Resources

const openDatabase = Effect.fnUntraced(function* (dataDir: string | undefined) {
  if (dataDir !== undefined) {
    yield* Effect.tryPromise({
      try: () => mkdir(dataDir, { recursive: true }),
      catch: (cause) =>
        new EmbeddedPostgresError({ message: `Cannot create ${dataDir}: ${describe(cause)}`, cause })
    })
  }
  return yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const db = new PGlite(dataDir ?? "memory://")
        await db.waitReady
        return db
      },
      catch: (cause) =>
        new EmbeddedPostgresError({
          message: `Cannot open PGlite ${dataDir === undefined ? "in memory" : `at ${dataDir}`}: ${describe(cause)}`,
          cause
        })
    }),
    (db) =>
      db.closed
        ? Effect.void
        : Effect.tryPromise({
            try: () => db.close(),
            catch: (cause) => new EmbeddedPostgresError({ message: "Cannot close PGlite", cause })
          }).pipe(Effect.catch((error) => Effect.logWarning(error.message, error.cause)))
  )
})

interface Listening {
  readonly server: Server
  readonly handlers: Set<PGLiteSocketHandler>
  readonly open: Set<Socket>
  readonly port: number
}

const listen = (db: PGlite, port: number, maxConnections: number): Promise<Listening> => {
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

const stop = async ({ server, handlers, open }: Listening): Promise<void> => {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  // Detaching rolls back what a client left open; sockets that are not attached (refused, terminated) go too.
  await Promise.all(Array.from(handlers, (handler) => handler.detach(true)))
  handlers.clear()
  for (const socket of open) socket.destroy()
  await closed
}

const serve = (db: PGlite, port: number, maxConnections: number) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => listen(db, port, maxConnections),
      catch: (cause) =>
        new EmbeddedPostgresError({ message: `Cannot listen on ${host}:${port}: ${describe(cause)}`, cause })
    }),
    (listening) =>
      Effect.tryPromise({
        try: () => stop(listening),
        catch: (cause) =>
          new EmbeddedPostgresError({ message: "Cannot stop the PGlite socket server", cause })
      }).pipe(Effect.catch((error) => Effect.logWarning(error.message, error.cause)))
  )

/**
 * Opens PGlite and serves it on 127.0.0.1 for the lifetime of the scope. Closing the scope closes the
 * client connections and the listener, then PGlite (finalizers run in reverse order).
 */
export const start = Effect.fn("EmbeddedPostgres.start")(function* (
  options: EmbeddedPostgresOptions = {}
): Effect.fn.Return<EmbeddedPostgresInfo, EmbeddedPostgresError, Scope.Scope> {
  const dataDir = options.memory === true ? undefined : options.dataDir
  const db = yield* openDatabase(dataDir)
  const { port } = yield* serve(db, options.port ?? 0, options.maxConnections ?? 64)
  return { url: `postgres://postgres@${host}:${port}/postgres`, host, port, dataDir }
})

export class EmbeddedPostgres extends Context.Service<EmbeddedPostgres, EmbeddedPostgresInfo>()(
  "@messaging-api/server/EmbeddedPostgres"
) {
  static readonly start = start
  static readonly layer = (options: EmbeddedPostgresOptions = {}) =>
    Layer.effect(EmbeddedPostgres, start(options))
}
