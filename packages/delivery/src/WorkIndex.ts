import { anyOf, type Columns, unnestRows } from "@messaging-api/domain/ColumnArrays"
import type { ConversationId } from "@messaging-api/domain/Ids"
import { hotSpan } from "@messaging-api/domain/Tracing"
import {
  Clock,
  Context,
  Effect,
  Exit,
  Layer,
  PubSub,
  Request,
  RequestResolver,
  type Scope,
  Semaphore
} from "effect"
import type { NonEmptyArray } from "effect/Array"
import { SqlClient, type SqlError } from "effect/sql"

/**
 * The `conversation_work` table: which conversations may have work (an open bot turn or an
 * undelivered message) and when to look at them next. Rows are hints, written two ways:
 * - the delivery projector adds one for every event that creates work (from the log, so a
 *   message acknowledged just before a crash is found after the restart);
 * - a conversation's actor, which has folded its stream up to some version, settles the row:
 *   marks it done (`due_at = infinity`, kept as a tombstone so that a late hint for an event the
 *   actor already handled is recognised as old) or moves it to the next due time. It never
 *   overrides a row that reflects a later version than it has seen. Settlements are not
 *   latency-critical: they are requests batched by effect's `RequestResolver`, one statement
 *   for all that arrive within a few milliseconds.
 * A row may be stale (the actor looks and finds nothing), never missing while work exists.
 * A hint no newer than a settlement this process wrote lately changes nothing (the row's version is
 * already at least the settlement's), so it is not written at all (`settled`): under a steady load
 * the actors have settled by the time the projector reads their events, and most hints, with their
 * row locks, are skipped.
 * In a process alone (`layerAlone`) an actor that finds nothing left to do writes that down once,
 * not after every message: while its row still holds that settlement (no hint, no due time and no
 * look of the schedule has touched it since), a later "nothing to do" is only remembered here, and
 * the hints of the work it finished are skipped as before. The row then names an older version
 * than the actor has reached, with nothing pending either way: stale, never missing work. A hint
 * this process writes, a row the schedule finds due, or a settlement with a due time makes the next
 * one be written again. A conversation whose stream this process started (`started`) has no row
 * but those this process writes: until one is, its "nothing to do" is not written at all, so a new
 * conversation whose work is done by the time the projector reads its events never gets a row.
 * A runner of a cluster writes every settlement (`layer`): the hints of its conversations may come
 * from the projector on another runner, which it would not hear of.
 */

export interface WorkHint {
  readonly conversationId: string
  readonly installationId: string | null
  /** ISO-8601: when something may be due. */
  readonly dueAt: string
  /** The stream version of the event behind the hint. */
  readonly version: number
}

/**
 * What an actor writes down when its loop stops: its version, and when to look again (null:
 * never). Answered with whether it was written.
 */
interface Settlement extends Request.Request<boolean, SqlError.SqlError> {
  readonly conversationId: string
  readonly installationId: string | null
  readonly version: number
  readonly dueAt: string | null
}
const Settlement = Request.of<Settlement>()

/** How hints and settlements are bound for their multi-row statements (`ColumnArrays.unnestRows`). */
const hintColumns: Columns<WorkHint> = {
  conversationId: "uuid",
  installationId: "uuid",
  dueAt: "timestamptz",
  version: "int4"
}
const settlementColumns: Columns<Settlement> = hintColumns

/** How long a batch of settlements collects before it is written. */
const SETTLEMENT_WINDOW = "5 millis"

/** Most settlements in one statement. */
const SETTLEMENT_MAX_BATCH = 500

/** Settlement statements in flight at once (each holds a connection while it runs). */
const SETTLEMENT_WRITERS = 2

/** How long this process remembers a conversation's settled or clean version: one to two of these. */
const SETTLED_MEMORY_MILLIS = 30_000

/**
 * A version per conversation, remembered for one to two `SETTLED_MEMORY_MILLIS`: two generations,
 * the older dropped as a whole once per period, so memory follows the conversations of the last
 * minute at most. What is forgotten is only written (or looked up) again.
 */
class RecentVersions {
  private current = new Map<string, number>()
  private previous = new Map<string, number>()
  private rotatedAt = 0

  private rotate(now: number) {
    if (now - this.rotatedAt < SETTLED_MEMORY_MILLIS) return
    // Idle for two periods: both generations are old.
    this.previous = now - this.rotatedAt < 2 * SETTLED_MEMORY_MILLIS ? this.current : new Map()
    this.current = new Map()
    this.rotatedAt = now
  }

  /** Remembers `version` (the latest one kept: versions only move forward). */
  record(conversationId: string, version: number, now: number) {
    this.rotate(now)
    if (version > (this.current.get(conversationId) ?? 0)) this.current.set(conversationId, version)
  }

  forget(conversationId: string) {
    this.current.delete(conversationId)
    this.previous.delete(conversationId)
  }

  /** The latest version remembered for the conversation, 0 when none. */
  versionOf(conversationId: string, now: number): number {
    this.rotate(now)
    return Math.max(this.current.get(conversationId) ?? 0, this.previous.get(conversationId) ?? 0)
  }
}

/**
 * A batch as statements in which each conversation appears once: the first settlement of each
 * conversation, then the second, and so on, in the order they came (an `INSERT … ON CONFLICT`
 * cannot update one row twice).
 */
const roundsByConversation = (
  entries: ReadonlyArray<Request.Entry<Settlement>>
): ReadonlyArray<NonEmptyArray<Request.Entry<Settlement>>> => {
  const seen = new Map<string, number>()
  const rounds: Array<NonEmptyArray<Request.Entry<Settlement>>> = []
  for (const entry of entries) {
    const round = seen.get(entry.request.conversationId) ?? 0
    seen.set(entry.request.conversationId, round + 1)
    const statement = rounds[round]
    if (statement === undefined) rounds[round] = [entry]
    else statement.push(entry)
  }
  return rounds
}

export class WorkIndex extends Context.Service<
  WorkIndex,
  {
    /**
     * Conversations whose work is due now, earliest first, leaving out those already being worked
     * on and those of installations whose endpoint is paused.
     */
    due(options: {
      readonly limit: number
      readonly excluding: ReadonlyArray<string>
      /** Only conversations of these installations. */
      readonly installations?: ReadonlyArray<string> | undefined
      /** Only conversations in these shards (of `shardsPerGroup`), the way the cluster routes them. */
      readonly shards?: { readonly shardsPerGroup: number; readonly owned: ReadonlyArray<number> } | undefined
    }): Effect.Effect<ReadonlyArray<ConversationId>, SqlError.SqlError>
    /**
     * Adds hints, at most one per conversation (earliest due time wins; a hint no newer than an
     * actor's settlement is ignored).
     */
    hint(hints: ReadonlyArray<WorkHint>): Effect.Effect<void, SqlError.SqlError>
    /**
     * Whether the hint's work is already settled: this process settled its conversation lately at
     * the hint's version or later (its row says so already, or, in a process alone, its actor found
     * nothing left to do there), so the hint would claim work that no longer exists.
     */
    settled(hint: WorkHint): boolean
    /**
     * An actor that has folded up to `version`: nothing left to do (`dueAt` null), or look again at
     * `dueAt`. Answers false when the row reflects a later version: the actor's state is stale. In a
     * process alone a "nothing to do" is only remembered while the row holds an earlier one.
     */
    settle(
      conversationId: string,
      version: number,
      installationId: string | null,
      dueAt: string | null
    ): Effect.Effect<boolean, SqlError.SqlError>
    /**
     * This process's actor started the conversation's stream: no other process has written a row
     * for it. In a process alone its "nothing to do" is then not written until a row is.
     */
    started(conversationId: string): void
    /** Wakes whoever watches (after new hints were committed). */
    readonly notify: Effect.Effect<void>
    /** Notifications from now on; one pending at most (a watcher wants "something new", not how much). */
    readonly watch: Effect.Effect<PubSub.Subscription<void>, never, Scope.Scope>
  }
>()("@messaging-api/delivery/WorkIndex") {
  /** Every settlement written: a runner of a cluster. */
  static readonly layer = Layer.effect(
    WorkIndex,
    Effect.suspend(() => make({ lazyIdle: false }))
  )

  /** A process alone: an idle conversation's "nothing to do" written once while its row holds it. */
  static readonly layerAlone = Layer.effect(
    WorkIndex,
    Effect.suspend(() => make({ lazyIdle: true }))
  )
}

const make = Effect.fnUntraced(function* ({ lazyIdle }: { readonly lazyIdle: boolean }) {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const notifications = yield* PubSub.sliding<void>(1)
  const clock = yield* Clock.Clock
  /** The version up to which each conversation's work is done, settled or finished here lately. */
  const done = new RecentVersions()
  /**
   * Conversations whose row holds this process's settlement of "nothing to do" at the version
   * given, untouched since (no hint, no due time, not found due): `layerAlone` need not write
   * their next one.
   */
  const clean = new RecentVersions()
  /**
   * Conversations started here that have no row yet (`layerAlone`): their "nothing to do" needs no
   * row at all. Forgotten once a hint or a settlement may have written one.
   */
  const rowless = new RecentVersions()

  const due = Effect.fn("WorkIndex.due")(function* (options: {
    readonly limit: number
    readonly excluding: ReadonlyArray<string>
    readonly installations?: ReadonlyArray<string> | undefined
    readonly shards?: { readonly shardsPerGroup: number; readonly owned: ReadonlyArray<number> } | undefined
  }) {
    if (options.shards?.owned.length === 0) return []
    const scope =
      options.installations === undefined
        ? sql`TRUE`
        : sql`installation_id::text = ${anyOf(sql, options.installations, "text")}`
    const shards =
      options.shards === undefined
        ? sql`TRUE`
        : sql`cluster_shard_of(conversation_id::text, ${options.shards.shardsPerGroup}) = ${anyOf(sql, options.shards.owned, "int4")}`
    const rows = yield* sql<{ conversation_id: string }>`
      SELECT conversation_id::text AS conversation_id FROM conversation_work
      WHERE due_at <= now()
        AND ${shards}
        AND NOT (conversation_id::text = ${anyOf(sql, options.excluding, "text")})
        AND ${scope}
        -- A paused endpoint's conversations hold their deliveries until it is resumed.
        AND NOT EXISTS (
          SELECT 1 FROM endpoint_health h
          WHERE h.installation_id = conversation_work.installation_id AND h.paused_at IS NOT NULL
        )
      ORDER BY due_at
      LIMIT ${options.limit}
    `
    // Rows found due claim work, whoever wrote them: their next "nothing to do" is written.
    for (const row of rows) {
      clean.forget(row.conversation_id)
      rowless.forget(row.conversation_id)
    }
    return rows.map((row) => row.conversation_id as ConversationId)
  })

  const settled = (hint: WorkHint) =>
    hint.version <= done.versionOf(hint.conversationId, clock.currentTimeMillisUnsafe())

  const hint = (hints: ReadonlyArray<WorkHint>) =>
    hints.length === 0
      ? Effect.void
      : Effect.suspend(() => {
          for (const hint of hints) {
            clean.forget(hint.conversationId)
            rowless.forget(hint.conversationId)
          }
          return sql`
            INSERT INTO conversation_work (conversation_id, installation_id, due_at, version)
            SELECT h."conversationId", h."installationId", h."dueAt", h.version
            FROM ${unnestRows(sql, hints, hintColumns, "h")}
            -- Rows are locked in one order by every writer of this table, so two never deadlock.
            ORDER BY h."conversationId"
            ON CONFLICT (conversation_id) DO UPDATE SET
              installation_id = coalesce(conversation_work.installation_id, EXCLUDED.installation_id),
              due_at = CASE WHEN EXCLUDED.version > conversation_work.version
                            THEN LEAST(conversation_work.due_at, EXCLUDED.due_at)
                            ELSE conversation_work.due_at END,
              version = GREATEST(conversation_work.version, EXCLUDED.version)
          `
        }).pipe(Effect.asVoid, hotSpan("WorkIndex.hint"))

  /**
   * Settles many actors in one statement, each conversation once, and answers each. A settled
   * row is kept with `due_at = infinity` (a tombstone carrying the version), so a hint the
   * projector writes late, for an event the actor has already handled, is recognised as old
   * and changes nothing.
   */
  const settleMany = (entries: NonEmptyArray<Request.Entry<Settlement>>) => {
    const settlements = entries.map((entry) => entry.request)
    return sql<{ conversation_id: string }>`
      INSERT INTO conversation_work (conversation_id, installation_id, due_at, version)
      SELECT s."conversationId", s."installationId", coalesce(s."dueAt", 'infinity'), s.version
      FROM ${unnestRows(sql, settlements, settlementColumns, "s")}
      ORDER BY s."conversationId"
      ON CONFLICT (conversation_id) DO UPDATE SET
        due_at = EXCLUDED.due_at,
        version = EXCLUDED.version,
        installation_id = coalesce(EXCLUDED.installation_id, conversation_work.installation_id)
      WHERE conversation_work.version <= EXCLUDED.version
      RETURNING conversation_id::text AS conversation_id
    `.pipe(
      Effect.matchCause({
        onSuccess: (rows) => {
          const settled = new Set(rows.map((row) => row.conversation_id))
          const now = clock.currentTimeMillisUnsafe()
          for (const entry of entries) {
            const { conversationId, version, dueAt } = entry.request
            const written = settled.has(conversationId)
            // Written or not (then the row reflects a later version than the actor has seen),
            // the row's version is now at least the settlement's.
            done.record(conversationId, version, now)
            // Only a process alone reads what is clean; a runner keeps no such memory.
            if (lazyIdle) {
              if (written && dueAt === null) clean.record(conversationId, version, now)
              else clean.forget(conversationId)
            }
            entry.completeUnsafe(Exit.succeed(written))
          }
        },
        onFailure: (cause) => {
          for (const entry of entries) entry.completeUnsafe(Exit.failCause(cause))
        }
      })
    )
  }

  const writers = yield* Semaphore.make(SETTLEMENT_WRITERS)
  const settlements = RequestResolver.make<Settlement>((entries) =>
    Effect.forEach(roundsByConversation(entries), settleMany, { discard: true }).pipe(writers.withPermit)
  ).pipe(
    RequestResolver.setDelay(SETTLEMENT_WINDOW),
    RequestResolver.batchN(SETTLEMENT_MAX_BATCH),
    // A span of its own per batch (not under whichever actor started it), linked to each caller's.
    RequestResolver.withSpan("WorkIndex.settleMany", { root: true, captureStackTrace: false })
  )

  const settle = (
    conversationId: string,
    version: number,
    installationId: string | null,
    dueAt: string | null
  ) => {
    if (lazyIdle && dueAt === null) {
      const now = clock.currentTimeMillisUnsafe()
      const cleanAt = clean.versionOf(conversationId, now)
      // No row, or one that already says "nothing to do" (at an older version): remembered, not written.
      if (rowless.versionOf(conversationId, now) > 0 || (cleanAt > 0 && version >= cleanAt)) {
        done.record(conversationId, version, now)
        return Effect.succeed(true)
      }
    }
    // A due time is written: the conversation has a row from now on.
    if (dueAt !== null) rowless.forget(conversationId)
    return Effect.request(Settlement({ conversationId, version, installationId, dueAt }), settlements)
  }

  const notify = PubSub.publish(notifications, undefined).pipe(Effect.asVoid)

  const started = (conversationId: string) => {
    // Only a process alone reads it (a runner's conversations may have rows from other runners).
    if (lazyIdle) rowless.record(conversationId, 1, clock.currentTimeMillisUnsafe())
  }

  return WorkIndex.of({ due, hint, settled, settle, started, notify, watch: PubSub.subscribe(notifications) })
})
