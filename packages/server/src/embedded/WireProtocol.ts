/**
 * The few bits of the Postgres wire protocol the embedded server acts on: the message types the
 * session queue watches for, the messages it sends on a client's behalf, and a reader that follows
 * the backend's output across chunks.
 */

export const NOTIFICATION_RESPONSE = 0x41 // 'A'
export const READY_FOR_QUERY = 0x5a // 'Z'
export const IDLE = 0x49 // 'I': ReadyForQuery status outside a transaction block
export const TERMINATE = 0x58 // 'X'

const protocolMessage = (type: string, body: string): Uint8Array => {
  const text = Buffer.from(body, "utf8")
  const message = Buffer.alloc(5 + text.length)
  message.write(type, 0, "latin1")
  message.writeInt32BE(4 + text.length, 1)
  text.copy(message, 5)
  return message
}
export const SYNC = protocolMessage("S", "")
export const ROLLBACK = protocolMessage("Q", "ROLLBACK\0")

export const tooManyConnections = (): Uint8Array => {
  const fields = "SFATAL\0VFATAL\0C53300\0Msorry, too many clients already\0\0"
  return protocolMessage("E", fields)
}

/**
 * Follows the backend's output across chunks and reports the messages the queue acts on:
 * ReadyForQuery (whose status says whether the session is free) and NotificationResponse.
 */
export class BackendMessages {
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
