import type { Result } from "effect"
import type { ConversationEvent } from "./ConversationEvents.ts"
import type { EventDecodeError } from "./ConversationStream.ts"
import type { RecordedEvent } from "./EventStore.ts"
import { applyEvent, timeOf } from "./ReadModelEvents.ts"
import {
  type BatchChanges,
  type ConversationRow,
  type Counts,
  countsOf,
  type MessageRow,
  noCounts,
  type ProjectedConversation,
  type RowChanges
} from "./ReadModelRows.ts"

/**
 * How a conversation's events change its read-model rows, with no database: given the rows a
 * batch read and each conversation's events after the version its row records (in stream order),
 * the rows to write. Pure: the same rows and events always give the same changes, which is what
 * makes following the log live and rebuilding from scratch agree.
 */

/** A recorded event and what it decoded to. */
export type DecodedEvent = readonly [RecordedEvent, Result.Result<ConversationEvent, EventDecodeError>]

/** An event the fold could not apply, for the caller to report. */
export type SkippedEvent =
  | { readonly _tag: "Undecodable"; readonly error: EventDecodeError }
  | {
      readonly _tag: "NotStarted"
      readonly streamId: string
      readonly version: number
      readonly type: string
    }

/** Applies one conversation's events in stream order; what cannot be applied is skipped and reported. */
const applyConversation = (
  changes: BatchChanges,
  conversation: ProjectedConversation,
  events: ReadonlyArray<DecodedEvent>,
  skipped: Array<SkippedEvent>
): void => {
  for (const [recorded, decoded] of events) {
    // The event's time, once: its rows and the conversation's last activity both take it.
    let time: string | undefined
    if (decoded._tag === "Failure") {
      skipped.push({ _tag: "Undecodable", error: decoded.failure })
    } else if (decoded.success._tag === "ConversationStarted") {
      conversation.installationId ??= decoded.success.installationId
      time = timeOf(decoded.success, recorded)
      applyEvent(changes, conversation, decoded.success.installationId, recorded, decoded.success, time)
    } else if (conversation.installationId === undefined) {
      skipped.push({
        _tag: "NotStarted",
        streamId: recorded.streamId,
        version: recorded.version,
        type: recorded.type
      })
      continue
    } else {
      time = timeOf(decoded.success, recorded)
      applyEvent(changes, conversation, conversation.installationId, recorded, decoded.success, time)
    }
    if (conversation.installationId !== undefined) {
      conversation.applied = recorded.version
      if (
        time !== undefined &&
        (conversation.lastActivity === undefined || time > conversation.lastActivity)
      ) {
        conversation.lastActivity = time
      }
    }
  }
}

/** Adds what each changed message row now counts for, less what it counted for before, to its conversation. */
const addCountChanges = (
  changes: BatchChanges,
  conversations: ReadonlyMap<string, ProjectedConversation>
): void => {
  for (const tracked of changes.messages.values()) {
    if (!tracked.changed) continue
    const conversation = conversations.get(tracked.state.conversation_id)
    if (conversation === undefined) continue
    const after = countsOf(tracked.state)
    const before = tracked.before ?? noCounts()
    for (const key of Object.keys(after) as Array<keyof Counts>) {
      conversation.counts[key] += after[key] - before[key]
    }
  }
}

/** The rows to write once every conversation of the batch is brought forward. */
const rowChangesOf = (
  changes: BatchChanges,
  conversations: ReadonlyArray<ProjectedConversation>
): RowChanges => ({
  started: conversations.flatMap((c) =>
    c.started === undefined
      ? []
      : [
          {
            conversation_id: c.conversationId,
            installation_id: c.started.installationId,
            external_conversation_id: c.started.externalConversationId,
            at: c.started.at,
            version: c.started.version
          }
        ]
  ),
  createdMessages: Array.from(changes.messages.values()).flatMap((m) =>
    m.creation === undefined
      ? []
      : [{ ...m.creation, ...m.state, payload: JSON.stringify(m.creation.payload) }]
  ),
  changedMessages: Array.from(changes.messages.entries()).flatMap(([messageId, m]) =>
    m.creation === undefined && m.changed ? [{ ...m.state, message_id: messageId }] : []
  ),
  attempts: changes.attempts,
  deadLetters: changes.deadLetters,
  moved: conversations.flatMap((c) =>
    c.installationId === undefined || c.applied === undefined
      ? []
      : [
          {
            conversation_id: c.conversationId,
            version: c.applied,
            last_activity_at: c.lastActivity ?? null,
            last_user_id: c.lastUser?.userId ?? null,
            last_user_version: c.lastUser?.version ?? null,
            ...c.counts
          }
        ]
  )
})

/** What a batch starts from: the rows it read and each conversation's events to apply. */
export interface FoldInput {
  /** The existing rm_conversations rows of the batch's conversations. */
  readonly conversations: ReadonlyArray<ConversationRow>
  /** The existing rm_messages rows the events name. */
  readonly messages: ReadonlyArray<MessageRow>
  /** Per conversation id, its events after the version its row records, in stream order. */
  readonly events: ReadonlyMap<string, ReadonlyArray<DecodedEvent>>
}

export interface Folded {
  readonly rows: RowChanges
  /** In the order they were met. */
  readonly skipped: ReadonlyArray<SkippedEvent>
}

/**
 * Applies each conversation's events to in-memory copies of its rows and returns the rows to
 * write: inserts carry the state after the whole batch, a changed message row its new state (it
 * only takes it when newer than its `version`), a conversation the version it was brought to and
 * its counts moved by what each changed message row counts for now less what it counted for before.
 */
export const foldBatch = (input: FoldInput): Folded => {
  const changes: BatchChanges = { messages: new Map(), attempts: [], deadLetters: [] }
  for (const { message_id, ...state } of input.messages) {
    changes.messages.set(message_id, { state, creation: undefined, before: countsOf(state), changed: false })
  }
  const rowOf = new Map(input.conversations.map((row) => [row.conversation_id, row]))
  const conversations = new Map<string, ProjectedConversation>()
  for (const conversationId of input.events.keys()) {
    const row = rowOf.get(conversationId)
    conversations.set(conversationId, {
      conversationId,
      version: row?.version ?? 0,
      installationId: row?.installation_id,
      lastUserId: row?.last_user_id ?? null,
      lastUser: undefined,
      lastActivity: undefined,
      applied: row?.version,
      started: undefined,
      counts: noCounts()
    })
  }
  const skipped: Array<SkippedEvent> = []
  for (const [conversationId, events] of input.events) {
    applyConversation(changes, conversations.get(conversationId)!, events, skipped)
  }
  addCountChanges(changes, conversations)
  return { rows: rowChangesOf(changes, Array.from(conversations.values())), skipped }
}
