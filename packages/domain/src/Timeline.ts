import { Effect, HashMap, Schema, Stream } from "effect"
import type { SqlError } from "effect/sql"
import { type ConversationState, fold } from "./Conversation.ts"
import type { ConversationEvent } from "./ConversationEvents.ts"
import { fromRecorded } from "./ConversationStream.ts"
import type { EventStore, RecordedEvent } from "./EventStore.ts"
import { type ConversationId, conversationStream } from "./Ids.ts"

/**
 * A conversation's history as recorded: its events in stream order (those this version cannot
 * decode kept as they were stored), and the state folded from them up to a version or a time.
 * How it reads to people (lines, NDJSON) is the CLI's business (server/src/commands/TimelineText.ts).
 */

/** One recorded event; `event` is absent when this version does not know its type (or cannot decode it). */
export interface TimelineEntry {
  readonly recorded: RecordedEvent
  readonly event: ConversationEvent | undefined
}

/** When an event happened, by the clock of the process that decided it. */
export const occurredAt = (event: ConversationEvent): string => {
  switch (event._tag) {
    case "ConversationStarted":
      return event.startedAt
    case "UserMessageReceived":
      return event.receivedAt
    case "BotMessageEmitted":
      return event.emittedAt
    case "BotTurnCompleted":
      return event.completedAt
    case "BotTurnFailed":
      return event.failedAt
    case "DeliveryAttemptFailed":
      return event.failedAt
    case "MessageDelivered":
      return event.deliveredAt
    case "MessageDeadLettered":
      return event.deadLetteredAt
    case "RedeliveryRequested":
      return event.requestedAt
    case "DeliveriesPaused":
      return event.pausedAt
    case "DeliveriesResumed":
      return event.resumedAt
  }
}

/** The entry's time as an ISO instant: the event's own time, or the log's when that is not a time. */
export const entryTime = (entry: TimelineEntry): string => {
  const own = entry.event === undefined ? Number.NaN : Date.parse(occurredAt(entry.event))
  return Number.isNaN(own) ? entry.recorded.recordedAt.toISOString() : new Date(own).toISOString()
}

/** Reads a conversation's stream; events that do not decode stay in the timeline without `event`. */
export const readTimeline = (
  store: EventStore["Service"],
  conversationId: ConversationId
): Effect.Effect<ReadonlyArray<TimelineEntry>, SqlError.SqlError> =>
  store.readStream(conversationStream(conversationId)).pipe(
    Stream.mapEffect((recorded) =>
      fromRecorded(recorded).pipe(
        Effect.map((event): TimelineEntry => ({ recorded, event })),
        Effect.orElseSucceed((): TimelineEntry => ({ recorded, event: undefined }))
      )
    ),
    Stream.runCollect
  )

/** Where to stop folding: after a stream version, or after the last event at or before a time. */
export type Until =
  | { readonly _tag: "Version"; readonly version: number }
  | { readonly _tag: "Time"; readonly at: string }

export class InvalidUntil extends Schema.TaggedError<InvalidUntil>()("InvalidUntil", {
  input: Schema.String,
  message: Schema.String
}) {}

/** `12` is a version; anything else must be an ISO-8601 time such as `2026-11-25T12:00:00Z`. */
export const parseUntil = (input: string): Effect.Effect<Until, InvalidUntil> => {
  const text = input.trim()
  if (/^\d+$/.test(text)) return Effect.succeed({ _tag: "Version", version: Number(text) })
  const time = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+)?(Z|[+-]\d{2}:?\d{2})?$/.test(text)
    ? Date.parse(text)
    : Number.NaN
  return Number.isNaN(time)
    ? Effect.fail(
        new InvalidUntil({
          input,
          message: "expected a stream version (a whole number) or an ISO-8601 time like 2026-11-25T12:00:00Z"
        })
      )
    : Effect.succeed({ _tag: "Time", at: new Date(time).toISOString() })
}

/** The entries up to `until`, in order (a prefix of the stream). */
export const entriesUntil = (
  entries: ReadonlyArray<TimelineEntry>,
  until?: Until | undefined
): ReadonlyArray<TimelineEntry> => {
  if (until === undefined) return entries
  const limit = until._tag === "Time" ? Date.parse(until.at) : until.version
  const end = entries.findIndex((entry) =>
    until._tag === "Version" ? entry.recorded.version > limit : Date.parse(entryTime(entry)) > limit
  )
  return end === -1 ? entries : entries.slice(0, end)
}

export interface FoldedTimeline {
  readonly state: ConversationState
  /** The version of the last event folded (0 when none was). */
  readonly version: number
}

/** Folds the entries up to `until` with `Conversation.evolve`; events it cannot decode are left out. */
export const foldUntil = (
  entries: ReadonlyArray<TimelineEntry>,
  until?: Until | undefined
): FoldedTimeline => {
  const taken = entriesUntil(entries, until)
  const events = taken.flatMap((entry) => (entry.event === undefined ? [] : [entry.event]))
  return { state: fold(events), version: taken[taken.length - 1]?.recorded.version ?? 0 }
}

/** The folded state as plain JSON: what `replay` prints and what tests compare. */
export interface StateSummary {
  readonly version: number
  readonly started: {
    readonly conversationId: string
    readonly installationId: string
    readonly externalConversationId: string
    readonly startedAt: string
  } | null
  readonly userMessages: ReadonlyArray<{
    readonly messageId: string
    readonly externalMessageId: string
    readonly userId: string
    readonly type: string
    readonly text: string
    readonly receivedAt: string
  }>
  readonly lastUserId: string | null
  readonly openTurns: ReadonlyArray<{
    readonly userMessageId: string
    readonly userId: string
    readonly failures: number
    readonly retryAt: string | null
  }>
  readonly outbox: ReadonlyArray<string>
  readonly botMessages: ReadonlyArray<{
    readonly messageId: string
    readonly inReplyTo: string | null
    readonly userId: string | null
    readonly type: string
    readonly payload: unknown
    readonly emittedAt: string
    readonly status: string
    readonly attempts: number
    readonly nextAttemptAt: string | null
    readonly lastError: string | null
  }>
}

const byTimeThenId =
  <A>(time: (a: A) => string, id: (a: A) => string) =>
  (a: A, b: A): number =>
    time(a) < time(b) ? -1 : time(a) > time(b) ? 1 : id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0

export const summarize = (state: ConversationState, version: number): StateSummary => ({
  version,
  started:
    state.started === null
      ? null
      : {
          conversationId: state.started.conversationId,
          installationId: state.started.installationId,
          externalConversationId: state.started.externalConversationId,
          startedAt: state.started.startedAt
        },
  userMessages: [...HashMap.values(state.userMessages)]
    .map((message) => ({
      messageId: message.messageId,
      externalMessageId: message.externalMessageId,
      userId: message.userId,
      type: message.type,
      text: message.text,
      receivedAt: message.receivedAt
    }))
    .sort(
      byTimeThenId(
        (message) => message.receivedAt,
        (message) => message.messageId
      )
    ),
  lastUserId: state.lastUserId,
  openTurns: state.openTurns.map((turn) => ({
    userMessageId: turn.userMessageId,
    userId: turn.userId,
    failures: turn.failures,
    retryAt: turn.retryAt
  })),
  outbox: [...state.outbox],
  botMessages: [...HashMap.values(state.botMessages)]
    .map((message) => ({
      messageId: message.messageId,
      inReplyTo: message.inReplyTo,
      userId: message.userId,
      type: message.type,
      payload: message.payload,
      emittedAt: message.emittedAt,
      status: message.status,
      attempts: message.attempts,
      nextAttemptAt: message.nextAttemptAt,
      lastError: message.lastError
    }))
    .sort(
      byTimeThenId(
        (message) => message.emittedAt,
        (message) => message.messageId
      )
    )
})
