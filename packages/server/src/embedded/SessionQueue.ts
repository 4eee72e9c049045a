import type { PGlite } from "@electric-sql/pglite"
import { BackendMessages, IDLE, READY_FOR_QUERY, ROLLBACK, SYNC, TERMINATE } from "./WireProtocol.ts"

/**
 * The one PGlite session shared by the embedded server's clients, handed to one client at a time.
 * Why it replaces pglite-socket's per-connection query queue (read in pglite-socket 0.2.17's dist,
 * measured with @effect/sql-pg 4.0.5):
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
 */

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
 * `clearTransactionIfNeeded`, `getQueueLength`).
 */
export class SessionQueue {
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
