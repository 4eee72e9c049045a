import { Context, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Which conversations may exist, so that a new conversation's first command need not read its
 * empty stream. An actor reads its conversation's snapshot and events when it wakes, one round
 * trip before the append; for a conversation that was never started that read finds nothing, and
 * it sits on the path of the first message of every new conversation. When this says a
 * conversation has certainly never been started, the actor assumes the empty state instead
 * (`ConversationWriter.assumedEmpty`): the append at version 0 checks the assumption (the event
 * store refuses it if the stream has events), and a decision that would not append is made again
 * on the state read from the log. So a wrong answer here costs a refused append, never a wrong
 * decision.
 * In a process alone (`layerAlone`) the answer comes from a scalable Bloom filter: every
 * conversation of the read model (`rm_conversations`, read in pages when the process starts) and
 * every conversation an actor of this process has woken for. Until the read model has been read,
 * every conversation may exist. What it gets wrong is a conversation the read model had not caught
 * up with when the process started, or one another process starts while it runs (nothing does in
 * a process alone but an operator's own tooling). A runner of a cluster (`layerUnknown`) does not
 * hear of the conversations the other runners start, so it never assumes.
 */

export class KnownConversations extends Context.Service<
  KnownConversations,
  {
    /** False only when the conversation has never been started, as far as this process knows. */
    mayExist(conversationId: string): boolean
    /**
     * An actor of this process wakes for the conversation: whether it may have existed before
     * (`mayExist`); from now on it may, also when it woke while the read model was still being read.
     */
    woken(conversationId: string): boolean
  }
>()("@messaging-api/delivery/KnownConversations") {
  /** A process alone: the read model's conversations and those woken here. */
  static readonly layerAlone = Layer.effect(
    KnownConversations,
    Effect.gen(function* () {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const filter = new ConversationFilter()
      let ready = false
      const page = (after: string) =>
        sql<{ id: string }>`
          SELECT conversation_id::text AS id FROM rm_conversations
          WHERE conversation_id > ${after}::uuid ORDER BY conversation_id LIMIT ${PAGE}
        `
      const readAll = Effect.gen(function* () {
        let after = "00000000-0000-0000-0000-000000000000"
        while (true) {
          const rows = yield* page(after)
          for (const row of rows) filter.add(row.id)
          if (rows.length < PAGE) break
          after = rows[rows.length - 1]!.id
        }
        ready = true
      })
      // Read in the background: until it is done, every conversation may exist (each is read).
      yield* readAll.pipe(
        Effect.catch((error) =>
          Effect.logWarning(
            "could not read the conversations; every new one is read before its first append",
            error
          )
        ),
        Effect.forkScoped
      )
      return KnownConversations.of({
        mayExist: (conversationId) => !ready || filter.has(conversationId),
        woken: (conversationId) => {
          const present = filter.add(conversationId)
          return !ready || present
        }
      })
    })
  )

  /** A runner of a cluster: any conversation may exist. */
  static readonly layerUnknown = Layer.succeed(
    KnownConversations,
    KnownConversations.of({ mayExist: () => true, woken: () => true })
  )
}

/** Conversations read from the read model per statement when the process starts. */
const PAGE = 10_000

/** Bits per entry and probes per lookup of each layer: about 1 % false positives. */
const BITS_PER_ENTRY = 10
const PROBES = 7
/** Entries in the first layer; each next layer holds twice as many. */
const FIRST_CAPACITY = 1 << 15

/**
 * A scalable Bloom filter of strings: layers of doubling size, each filled up to its capacity, a
 * string added to the newest and looked for in all. No false negatives; false positives about 1 %
 * per layer. Memory: about 1.3 bytes per entry (a million conversations in 1.3 MB).
 */
export class ConversationFilter {
  private readonly layers: Array<{ readonly bits: Uint32Array; readonly size: number; count: number }> = []

  constructor() {
    this.grow(FIRST_CAPACITY)
  }

  private grow(capacity: number) {
    const size = capacity * BITS_PER_ENTRY
    this.layers.push({ bits: new Uint32Array(Math.ceil(size / 32)), size, count: 0 })
  }

  /** Adds the string; whether it may have been there already (false: certainly not). */
  add(value: string): boolean {
    const [h1, h2] = hashes(value)
    if (this.contains(h1, h2)) return true
    let layer = this.layers[this.layers.length - 1]!
    if (layer.count >= layer.size / BITS_PER_ENTRY) {
      this.grow((layer.size / BITS_PER_ENTRY) * 2)
      layer = this.layers[this.layers.length - 1]!
    }
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + i * h2) % layer.size
      layer.bits[bit >>> 5]! |= 1 << (bit & 31)
    }
    layer.count++
    return false
  }

  has(value: string): boolean {
    const [h1, h2] = hashes(value)
    return this.contains(h1, h2)
  }

  private contains(h1: number, h2: number): boolean {
    for (const layer of this.layers) {
      let all = true
      for (let i = 0; i < PROBES && all; i++) {
        const bit = (h1 + i * h2) % layer.size
        all = (layer.bits[bit >>> 5]! & (1 << (bit & 31))) !== 0
      }
      if (all) return true
    }
    return false
  }
}

/** Two independent 32-bit FNV-1a hashes of the string (double hashing makes the probes). */
const hashes = (value: string): readonly [number, number] => {
  let a = 0x811c9dc5
  let b = 0x01000193 ^ 0x5bd1e995
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x5bd1e995)
  }
  // Unsigned, and the step odd so that the probes of one string differ.
  return [a >>> 0, (b | 1) >>> 0]
}
