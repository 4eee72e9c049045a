import { type ConversationEvents, Timeline } from "@messaging-api/domain"
import { Predicate, Schema } from "effect"

/**
 * How `messaging-api replay` shows a conversation's timeline: one aligned line per recorded event
 * for people, one JSON object per event for scripts (NDJSON), and the folded state one fact a line.
 * Reading the events and folding them is the domain's (`Timeline`); this is only the wording.
 */

const clip = (text: string, max = 60): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

/** A payload's `text` when it has one, otherwise its JSON. */
const payloadText = (payload: unknown): string =>
  Predicate.isObject(payload) && "text" in payload && Predicate.isString(payload.text)
    ? JSON.stringify(clip(payload.text))
    : clip(JSON.stringify(payload) ?? "null")

const http = (status: number | null): string => (status === null ? "no answer" : `HTTP ${status}`)

const attemptKey = (messageId: string, attempt: number) => `${messageId}#${attempt}`

/**
 * The attempts that ended in a dead letter. The decider records such an attempt as a
 * `DeliveryAttemptFailed` (its `nextAttemptAt` is the failure's own instant: there is no next one)
 * followed by `MessageDeadLettered` for the same message and attempt.
 */
const deadLetteredAttempts = (entries: ReadonlyArray<Timeline.TimelineEntry>): ReadonlySet<string> =>
  new Set(
    entries.flatMap((entry) =>
      entry.event?._tag === "MessageDeadLettered"
        ? [attemptKey(entry.event.messageId, entry.event.attempt)]
        : []
    )
  )

/**
 * The essentials of an event, on one line. `deadLettered`: this event is a failed delivery attempt
 * that was not retried but dead-lettered (it then reads as such, not as a retry due at once).
 */
export const describeEvent = (event: ConversationEvents.ConversationEvent, deadLettered = false): string => {
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
      return `delivery of ${event.messageId} failed (attempt ${event.attempt}, ${http(event.status)}, ${Math.round(event.durationMs)} ms): ${clip(event.error)}; ${
        deadLettered ? "not retried (dead-lettered)" : `retry at ${event.nextAttemptAt}`
      }`
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

/** Each entry's description (null for an event this version does not know), read in the light of the others. */
export const describeEntries = (
  entries: ReadonlyArray<Timeline.TimelineEntry>
): ReadonlyArray<string | null> => {
  const dead = deadLetteredAttempts(entries)
  return entries.map(({ event }) =>
    event === undefined
      ? null
      : describeEvent(
          event,
          event._tag === "DeliveryAttemptFailed" && dead.has(attemptKey(event.messageId, event.attempt))
        )
  )
}

const unknownEvent = "(an event type this version does not know)"

/**
 * `2026-11-25T12:00:00.000Z  v3   BotMessageEmitted      bot message … text: "hi" in reply to …`, one
 * line per entry; the version and type columns are as wide as the widest of these entries.
 */
export const formatTimeline = (entries: ReadonlyArray<Timeline.TimelineEntry>): ReadonlyArray<string> => {
  const descriptions = describeEntries(entries)
  const versionWidth = Math.max(0, ...entries.map((entry) => `v${entry.recorded.version}`.length))
  const typeWidth = Math.max(0, ...entries.map((entry) => entry.recorded.type.length))
  return entries.map((entry, i) =>
    [
      Timeline.entryTime(entry),
      `v${entry.recorded.version}`.padEnd(versionWidth),
      entry.recorded.type.padEnd(typeWidth),
      descriptions[i] ?? unknownEvent
    ].join("  ")
  )
}

/** One NDJSON line of `replay --json`: the stored event, its time and its description. */
export const TimelineRecord = Schema.Struct({
  kind: Schema.Literal("event"),
  version: Schema.Int,
  position: Schema.Int,
  eventId: Schema.String,
  type: Schema.String,
  at: Schema.String,
  recordedAt: Schema.String,
  description: Schema.NullOr(Schema.String),
  data: Schema.Unknown,
  metadata: Schema.Unknown
})
export type TimelineRecord = typeof TimelineRecord.Type

export const toRecords = (entries: ReadonlyArray<Timeline.TimelineEntry>): ReadonlyArray<TimelineRecord> => {
  const descriptions = describeEntries(entries)
  return entries.map((entry, i) => ({
    kind: "event",
    version: entry.recorded.version,
    position: entry.recorded.position,
    eventId: entry.recorded.eventId,
    type: entry.recorded.type,
    at: Timeline.entryTime(entry),
    recordedAt: entry.recorded.recordedAt.toISOString(),
    description: descriptions[i] ?? null,
    data: entry.recorded.data,
    metadata: entry.recorded.metadata
  }))
}

/** The folded state for people, one fact a line. */
export const formatSummary = (summary: Timeline.StateSummary): ReadonlyArray<string> => {
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
