import { Effect, HashMap, Predicate, Schema, Stream } from "effect"
import type { SqlError } from "effect/sql"
import { type ConversationState, fold } from "./Conversation.ts"
import type { ConversationEvent, Instant } from "./ConversationEvents.ts"
import { fromRecorded } from "./ConversationStream.ts"
import type { EventStore, RecordedEvent } from "./EventStore.ts"
import { type ConversationId, conversationStream } from "./Ids.ts"

/**
 * A conversation's history for people and scripts: each recorded event as one readable line or
 * one JSON object, and the state folded from the events up to a version or a time.
 */

/** One recorded event; `event` is absent when this version does not know its type (or cannot decode it). */
export interface TimelineEntry {
  readonly recorded: RecordedEvent
  readonly event: ConversationEvent | undefined
}

/** When an event happened, by the clock of the process that decided it. */
export const occurredAt = (event: ConversationEvent): Instant => {
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

const clip = (text: string, max = 60): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

/** A payload's `text` when it has one, otherwise its JSON. */
const payloadText = (payload: unknown): string =>
  Predicate.isObject(payload) && "text" in payload && Predicate.isString(payload.text)
    ? JSON.stringify(clip(payload.text))
    : clip(JSON.stringify(payload) ?? "null")

const http = (status: number | null): string => (status === null ? "no answer" : `HTTP ${status}`)

/** The essentials of an event, on one line. */
export const describeEvent = (event: ConversationEvent): string => {
  switch (event._tag) {
    case "ConversationStarted":
      return `conversation ${JSON.stringify(event.externalConversationId)} in installation ${event.installationId}`
    case "UserMessageReceived":
      return `user ${JSON.stringify(event.externalUserId)} sent ${JSON.stringify(event.externalMessageId)} (${event.messageId}) ${event.type}: ${JSON.stringify(clip(event.text))}`
    case "BotMessageEmitted":
      return `bot message ${event.messageId} ${event.type}: ${payloadText(event.payload)}${
        event.inReplyTo === null ? " (posted by the bot)" : ` in reply to ${event.inReplyTo}`
      }`
    case "BotTurnCompleted":
      return `turn of ${event.userMessageId} completed with ${event.messageCount} message(s)`
    case "BotTurnFailed":
      return `turn of ${event.userMessageId} failed (attempt ${event.attempt}): ${clip(event.reason)}; ${
        event.retryAt === null ? "gave up" : `retry at ${event.retryAt}`
      }`
    case "DeliveryAttemptFailed":
      return `delivery of ${event.messageId} failed (attempt ${event.attempt}, ${http(event.status)}, ${Math.round(event.durationMs)} ms): ${clip(event.error)}; next at ${event.nextAttemptAt}`
    case "MessageDelivered":
      return `delivered ${event.messageId} (attempt ${event.attempt}, HTTP ${event.status}, ${Math.round(event.durationMs)} ms)`
    case "MessageDeadLettered":
      return `dead-lettered ${event.messageId} (attempt ${event.attempt}, ${http(event.status)}): ${clip(event.reason)}`
    case "RedeliveryRequested":
      return `redelivery of ${event.messageId} requested`
    case "DeliveriesPaused":
      return `deliveries paused: the response endpoint has failed since ${event.failingSince} (paused at ${event.endpointPausedAt})${
        event.lastError === null ? "" : `: ${clip(event.lastError)}`
      }`
    case "DeliveriesResumed":
      return "deliveries resumed"
  }
}

/** `2026-11-25T12:00:00.000Z  v3  BotMessageEmitted      bot message … text: "hi" in reply to …` */
export const formatLine = (entry: TimelineEntry): string => {
  const description =
    entry.event === undefined ? "(an event type this version does not know)" : describeEvent(entry.event)
  return `${entryTime(entry)}  v${entry.recorded.version}  ${entry.recorded.type.padEnd(21)}  ${description}`
}

/** One NDJSON line's object: the stored event, its time and its description. */
export interface TimelineRecord {
  readonly version: number
  readonly position: number
  readonly eventId: string
  readonly type: string
  readonly at: string
  readonly recordedAt: string
  readonly description: string | null
  readonly data: unknown
  readonly metadata: unknown
}

export const toRecord = (entry: TimelineEntry): TimelineRecord => ({
  version: entry.recorded.version,
  position: entry.recorded.position,
  eventId: entry.recorded.eventId,
  type: entry.recorded.type,
  at: entryTime(entry),
  recordedAt: entry.recorded.recordedAt.toISOString(),
  description: entry.event === undefined ? null : describeEvent(entry.event),
  data: entry.recorded.data,
  metadata: entry.recorded.metadata
})

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

/** The summary for people, one fact a line. */
export const formatSummary = (summary: StateSummary): ReadonlyArray<string> => {
  if (summary.started === null) return [`state at version ${summary.version}: not started`]
  const lines = [
    `state at version ${summary.version}`,
    `  conversation  ${summary.started.conversationId} (${JSON.stringify(summary.started.externalConversationId)})`,
    `  installation  ${summary.started.installationId}`,
    `  started       ${summary.started.startedAt}`,
    `  user messages ${summary.userMessages.length}`,
    `  open turns    ${summary.openTurns.length === 0 ? "none" : ""}`
  ]
  for (const turn of summary.openTurns) {
    lines.push(
      `    ${turn.userMessageId} (failures ${turn.failures}${turn.retryAt === null ? "" : `, retry at ${turn.retryAt}`})`
    )
  }
  lines.push(`  outbox        ${summary.outbox.length === 0 ? "empty" : summary.outbox.join(", ")}`)
  lines.push(`  bot messages  ${summary.botMessages.length === 0 ? "none" : ""}`)
  for (const message of summary.botMessages) {
    const error = message.lastError === null ? "" : ` — ${clip(message.lastError)}`
    lines.push(
      `    ${message.messageId} ${message.type} ${message.status} after ${message.attempts} attempt(s)${error}`
    )
  }
  return lines.map((line) => line.trimEnd())
}
