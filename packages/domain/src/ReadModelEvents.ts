import { Predicate } from "effect"
import type { ConversationEvent } from "./ConversationEvents.ts"
import type { RecordedEvent } from "./EventStore.ts"
import type { BatchChanges, MessageCreation, MessageState, ProjectedConversation } from "./ReadModelRows.ts"
import { occurredAt } from "./Timeline.ts"

/**
 * What one conversation event does to the read-model rows a batch holds in memory: the message
 * rows it creates or changes, the delivery attempts it records, and its conversation's start and
 * last user. A message row takes a change once, from an event newer than the row's `version`.
 */

/** The ids of the messages an event creates or changes (the rows a batch must read first). */
export const messageIdsOf = (event: ConversationEvent): ReadonlyArray<string> => {
  switch (event._tag) {
    case "ConversationStarted":
      return []
    case "UserMessageReceived":
      return [event.messageId]
    case "BotMessageEmitted":
      return event.inReplyTo === null ? [event.messageId] : [event.messageId, event.inReplyTo]
    case "BotTurnCompleted":
    case "BotTurnFailed":
      return [event.userMessageId]
    case "DeliveryAttemptFailed":
    case "MessageDelivered":
    case "MessageDeadLettered":
    case "RedeliveryRequested":
      return [event.messageId]
    case "DeliveriesPaused":
    case "DeliveriesResumed":
      return []
  }
}

/** An event's time as an ISO instant; the log's time when the event's own is not a time. */
export const timeOf = (event: ConversationEvent, recorded: RecordedEvent): string => {
  const own = Date.parse(occurredAt(event))
  return Number.isNaN(own) ? recorded.recordedAt.toISOString() : new Date(own).toISOString()
}

const instantOrNull = (value: string | null): string | null => {
  if (value === null) return null
  const time = Date.parse(value)
  return Number.isNaN(time) ? null : new Date(time).toISOString()
}

const textOf = (payload: unknown): string | null =>
  Predicate.isObject(payload) && "text" in payload && Predicate.isString(payload.text) ? payload.text : null

/** Changes one message of this conversation, once: the row remembers the last event applied to it. */
const changeMessage = (
  changes: BatchChanges,
  conversationId: string,
  messageId: string,
  direction: "user" | "bot",
  version: number,
  change: (row: MessageState) => void
): void => {
  const tracked = changes.messages.get(messageId)
  if (tracked === undefined) return
  const row = tracked.state
  if (row.conversation_id !== conversationId || row.direction !== direction || row.version >= version) return
  if (direction === "user" && row.turn_status !== "open") return
  change(row)
  row.version = version
  tracked.changed = true
}

/** Creates a message row unless one with its id exists already. */
const createMessage = (
  changes: BatchChanges,
  creation: MessageCreation,
  state: Omit<
    MessageState,
    | "attempts"
    | "last_status"
    | "last_error"
    | "next_attempt_at"
    | "delivered_at"
    | "dead_lettered_at"
    | "redeliveries"
  >
): void => {
  if (changes.messages.has(creation.message_id)) return
  changes.messages.set(creation.message_id, {
    state: {
      ...state,
      attempts: 0,
      last_status: null,
      last_error: null,
      next_attempt_at: null,
      delivered_at: null,
      dead_lettered_at: null,
      redeliveries: 0
    },
    creation,
    before: undefined,
    changed: true
  })
}

/**
 * The row changes of one event, made to the batch's in-memory rows. `at` is the event's time
 * (`timeOf`), which the caller computes once for the rows and the conversation's last activity.
 */
export const applyEvent = (
  changes: BatchChanges,
  conversation: ProjectedConversation,
  installationId: string,
  recorded: RecordedEvent,
  event: ConversationEvent,
  at: string
): void => {
  const conversationId = conversation.conversationId
  const version = recorded.version
  const message = (messageId: string, direction: "user" | "bot", change: (row: MessageState) => void) =>
    changeMessage(changes, conversationId, messageId, direction, version, change)
  switch (event._tag) {
    case "ConversationStarted":
      if (conversation.version === 0 && conversation.started === undefined) {
        conversation.started = {
          installationId: event.installationId,
          externalConversationId: event.externalConversationId,
          at,
          version
        }
      }
      return
    case "UserMessageReceived":
      createMessage(
        changes,
        {
          message_id: event.messageId,
          installation_id: installationId,
          external_message_id: event.externalMessageId,
          external_user_id: event.externalUserId,
          in_reply_to: null,
          type: event.type,
          text: event.text,
          payload: event.payload,
          created_at: at
        },
        {
          conversation_id: conversationId,
          direction: "user",
          user_id: event.userId,
          stream_version: version,
          turn_status: "open",
          turn_failures: 0,
          delivery_status: null,
          version
        }
      )
      // Only the latest user message names the last user, whatever order it is applied in.
      conversation.lastUserId = event.userId
      conversation.lastUser = { userId: event.userId, version }
      return
    case "BotMessageEmitted": {
      // Addressed like Conversation.evolve does: the user of the open turn it answers, else the last user.
      const turn = event.inReplyTo === null ? undefined : changes.messages.get(event.inReplyTo)?.state
      const turnUser =
        turn !== undefined &&
        turn.conversation_id === conversationId &&
        turn.direction === "user" &&
        turn.turn_status === "open"
          ? turn.user_id
          : null
      createMessage(
        changes,
        {
          message_id: event.messageId,
          installation_id: installationId,
          external_message_id: null,
          external_user_id: null,
          in_reply_to: event.inReplyTo,
          type: event.type,
          text: textOf(event.payload),
          payload: event.payload,
          created_at: at
        },
        {
          conversation_id: conversationId,
          direction: "bot",
          user_id: turnUser ?? conversation.lastUserId,
          stream_version: version,
          turn_status: null,
          turn_failures: null,
          // A pull-only conversation's messages are read, never POSTed: "pull", no attempts.
          delivery_status: event.delivery === "pull" ? "pull" : "pending",
          version
        }
      )
      return
    }
    case "BotTurnCompleted":
      message(event.userMessageId, "user", (row) => {
        row.turn_status = "completed"
      })
      return
    case "BotTurnFailed":
      message(event.userMessageId, "user", (row) => {
        row.turn_failures = event.attempt
        row.turn_status = event.retryAt === null ? "failed" : "open"
      })
      return
    case "DeliveryAttemptFailed": {
      const nextAttemptAt = instantOrNull(event.nextAttemptAt)
      changes.attempts.push({
        conversation_id: conversationId,
        stream_version: version,
        message_id: event.messageId,
        installation_id: installationId,
        attempt: event.attempt,
        outcome: "failed",
        status: event.status,
        error: event.error,
        duration_ms: event.durationMs,
        next_attempt_at: nextAttemptAt,
        at
      })
      message(event.messageId, "bot", (row) => {
        row.attempts = event.attempt
        row.last_status = event.status
        row.last_error = event.error
        row.next_attempt_at = nextAttemptAt
      })
      return
    }
    case "MessageDelivered":
      changes.attempts.push({
        conversation_id: conversationId,
        stream_version: version,
        message_id: event.messageId,
        installation_id: installationId,
        attempt: event.attempt,
        outcome: "delivered",
        status: event.status,
        error: null,
        duration_ms: event.durationMs,
        next_attempt_at: null,
        at
      })
      message(event.messageId, "bot", (row) => {
        row.delivery_status = "delivered"
        row.attempts = event.attempt
        row.last_status = event.status
        row.last_error = null
        row.next_attempt_at = null
        row.delivered_at = at
      })
      return
    case "MessageDeadLettered":
      // The attempt that gave up was recorded just before: it is the one that dead-lettered.
      changes.deadLetters.push({
        conversation_id: conversationId,
        message_id: event.messageId,
        attempt: event.attempt,
        version
      })
      message(event.messageId, "bot", (row) => {
        row.delivery_status = "dead_lettered"
        row.attempts = event.attempt
        row.last_status = event.status
        row.last_error = event.reason
        row.next_attempt_at = null
        row.dead_lettered_at = at
      })
      return
    case "RedeliveryRequested":
      message(event.messageId, "bot", (row) => {
        row.delivery_status = "pending"
        row.attempts = 0
        row.next_attempt_at = null
        row.delivered_at = null
        row.dead_lettered_at = null
        row.redeliveries = row.redeliveries + 1
      })
      return
    case "DeliveriesPaused":
    case "DeliveriesResumed":
      // Held messages stay pending; the pause is the conversation's, not a message's.
      return
  }
}
