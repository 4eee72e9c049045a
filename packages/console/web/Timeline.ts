import { ConversationEvent } from "@messaging-api/domain/ConversationEvents"
import type { StoredEvent } from "@messaging-api/domain/ReadModels"
import { Result, Schema } from "effect"

/**
 * One conversation's timeline, folded from its raw events as they arrive on the live stream:
 * user messages, bot messages with their delivery status, and every delivery attempt.
 */

export interface Attempt {
  readonly attempt: number
  readonly outcome: "failed" | "delivered" | "dead_lettered"
  readonly status: number | null
  readonly error: string | null
  readonly at: string
  readonly nextAttemptAt: string | null
}

export interface UserEntry {
  readonly kind: "user"
  readonly messageId: string
  readonly externalMessageId: string
  readonly externalUserId: string
  readonly type: string
  readonly text: string
  readonly at: string
}

export interface BotEntry {
  readonly kind: "bot"
  readonly messageId: string
  readonly type: string
  readonly payload: unknown
  readonly at: string
  readonly status: "pending" | "delivered" | "dead_lettered"
  readonly attempts: ReadonlyArray<Attempt>
}

export interface NoteEntry {
  readonly kind: "note"
  readonly key: string
  readonly text: string
  readonly at: string
}

export type Entry = UserEntry | BotEntry | NoteEntry

export interface Timeline {
  readonly externalConversationId: string | null
  readonly entries: ReadonlyArray<Entry>
  /** The last stream version folded: the `Last-Event-ID` to resume after. */
  readonly version: number
}

export const empty: Timeline = { externalConversationId: null, entries: [], version: 0 }

const decodeEvent = Schema.decodeUnknownResult(ConversationEvent)

const updateBot = (timeline: Timeline, messageId: string, f: (entry: BotEntry) => BotEntry): Timeline => ({
  ...timeline,
  entries: timeline.entries.map((entry) =>
    entry.kind === "bot" && entry.messageId === messageId ? f(entry) : entry
  )
})

const append = (timeline: Timeline, entry: Entry): Timeline => ({
  ...timeline,
  entries: [...timeline.entries, entry]
})

/** Folds one stored event in; events at or below the version already folded change nothing. */
export const apply = (timeline: Timeline, stored: StoredEvent): Timeline => {
  if (stored.version <= timeline.version) return timeline
  const next = { ...timeline, version: stored.version }
  const data = typeof stored.data === "object" && stored.data !== null ? stored.data : {}
  const decoded = decodeEvent({ ...data, _tag: stored.type })
  if (Result.isFailure(decoded)) {
    return append(next, { kind: "note", key: stored.eventId, text: stored.type, at: stored.recordedAt })
  }
  const event = decoded.success
  switch (event._tag) {
    case "ConversationStarted":
      return { ...next, externalConversationId: event.externalConversationId }
    case "UserMessageReceived":
      return append(next, {
        kind: "user",
        messageId: event.messageId,
        externalMessageId: event.externalMessageId,
        externalUserId: event.externalUserId,
        type: event.type,
        text: event.text,
        at: event.receivedAt
      })
    case "BotMessageEmitted":
      return append(next, {
        kind: "bot",
        messageId: event.messageId,
        type: event.type,
        payload: event.payload,
        at: event.emittedAt,
        status: "pending",
        attempts: []
      })
    case "BotTurnCompleted":
      return next
    case "BotTurnFailed":
      return append(next, {
        kind: "note",
        key: stored.eventId,
        text: `The bot failed (attempt ${event.attempt}): ${event.reason}`,
        at: event.failedAt
      })
    case "DeliveryAttemptFailed":
      return updateBot(next, event.messageId, (entry) => ({
        ...entry,
        attempts: [
          ...entry.attempts,
          {
            attempt: event.attempt,
            outcome: "failed",
            status: event.status,
            error: event.error,
            at: event.failedAt,
            nextAttemptAt: event.nextAttemptAt
          }
        ]
      }))
    case "MessageDelivered":
      return updateBot(next, event.messageId, (entry) => ({
        ...entry,
        status: "delivered",
        attempts: [
          ...entry.attempts,
          {
            attempt: event.attempt,
            outcome: "delivered",
            status: event.status,
            error: null,
            at: event.deliveredAt,
            nextAttemptAt: null
          }
        ]
      }))
    case "MessageDeadLettered":
      return updateBot(next, event.messageId, (entry) => ({
        ...entry,
        status: "dead_lettered",
        // The failed attempt that ended it is shown once, as what it became.
        attempts: [
          ...(entry.attempts.at(-1)?.attempt === event.attempt && entry.attempts.at(-1)?.outcome === "failed"
            ? entry.attempts.slice(0, -1)
            : entry.attempts),
          {
            attempt: event.attempt,
            outcome: "dead_lettered",
            status: event.status,
            error: event.reason,
            at: event.deadLetteredAt,
            nextAttemptAt: null
          }
        ]
      }))
    case "RedeliveryRequested":
      return append(
        updateBot(next, event.messageId, (entry) => ({ ...entry, status: "pending" })),
        { kind: "note", key: stored.eventId, text: "Redelivery requested", at: event.requestedAt }
      )
    case "DeliveriesPaused":
      return append(next, {
        kind: "note",
        key: stored.eventId,
        text: `Deliveries paused: the endpoint has failed since ${event.failingSince}${
          event.lastError === null ? "" : ` (${event.lastError})`
        }`,
        at: event.pausedAt
      })
    case "DeliveriesResumed":
      return append(next, {
        kind: "note",
        key: stored.eventId,
        text: "Deliveries resumed",
        at: event.resumedAt
      })
  }
}
