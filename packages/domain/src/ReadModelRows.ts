import type { DeliveryStatus } from "./DeliveryStatus.ts"
import type { AttemptResult, TurnStatus } from "./ReadModels.ts"

/**
 * The read-model rows as a batch of the projection holds them in memory: what it reads
 * (`ConversationRow`, `MessageRow`), what it brings forward (`TrackedMessage`,
 * `ProjectedConversation`), and the rows it writes (`RowChanges`). Timestamps are ISO text, as
 * Postgres reads them back and casts them when they are written.
 */

/** What a message row adds to its conversation's counts. */
export interface Counts {
  user_messages: number
  bot_messages: number
  open_turns: number
  pending: number
  delivered: number
  dead_lettered: number
}

export const noCounts = (): Counts => ({
  user_messages: 0,
  bot_messages: 0,
  open_turns: 0,
  pending: 0,
  delivered: 0,
  dead_lettered: 0
})

/** The columns of an rm_messages row that events change. */
export interface MessageState {
  readonly conversation_id: string
  readonly direction: "user" | "bot"
  readonly user_id: string | null
  readonly stream_version: number
  turn_status: TurnStatus | null
  turn_failures: number | null
  delivery_status: DeliveryStatus | null
  attempts: number
  last_status: number | null
  last_error: string | null
  next_attempt_at: string | null
  delivered_at: string | null
  dead_lettered_at: string | null
  redeliveries: number
  version: number
}

export const countsOf = (row: MessageState): Counts => ({
  user_messages: row.direction === "user" ? 1 : 0,
  bot_messages: row.direction === "bot" ? 1 : 0,
  open_turns: row.turn_status === "open" ? 1 : 0,
  pending: row.delivery_status === "pending" ? 1 : 0,
  delivered: row.delivery_status === "delivered" ? 1 : 0,
  dead_lettered: row.delivery_status === "dead_lettered" ? 1 : 0
})

/** The columns an rm_messages row is created with and never changes afterwards. */
export interface MessageCreation {
  readonly message_id: string
  readonly installation_id: string
  readonly external_message_id: string | null
  readonly external_user_id: string | null
  readonly in_reply_to: string | null
  readonly type: string
  readonly text: string | null
  readonly payload: unknown
  readonly created_at: string
}

/** An existing rm_messages row, as read. */
export type MessageRow = MessageState & { readonly message_id: string }

/** An existing rm_conversations row, as far as the projection reads it. */
export interface ConversationRow {
  readonly conversation_id: string
  readonly installation_id: string
  readonly last_user_id: string | null
  readonly version: number
}

export interface TrackedMessage {
  readonly state: MessageState
  /** Set when the batch creates the row. */
  readonly creation: MessageCreation | undefined
  /** What the row counted for before the batch; undefined when the batch creates it. */
  readonly before: Counts | undefined
  changed: boolean
}

/** One conversation as the batch brings it forward. */
export interface ProjectedConversation {
  readonly conversationId: string
  /** The row's version before the batch (0 when there is no row). */
  readonly version: number
  installationId: string | undefined
  /** Who bot messages without an open turn are addressed to, as of the event being applied. */
  lastUserId: string | null
  /** The latest user message applied by the batch. */
  lastUser: { readonly userId: string; readonly version: number } | undefined
  lastActivity: string | undefined
  applied: number | undefined
  /** Set when the batch starts the conversation (its row is inserted). */
  started:
    | {
        readonly installationId: string
        readonly externalConversationId: string
        readonly at: string
        readonly version: number
      }
    | undefined
  readonly counts: Counts
}

/** An rm_delivery_attempts row. */
export interface AttemptRow {
  readonly conversation_id: string
  readonly stream_version: number
  readonly message_id: string
  readonly installation_id: string
  readonly attempt: number
  /** "dead_lettered" is set afterwards, on the attempt a `DeadLetterRow` names. */
  readonly outcome: Exclude<AttemptResult, "dead_lettered">
  readonly status: number | null
  readonly error: string | null
  readonly duration_ms: number
  readonly next_attempt_at: string | null
  readonly at: string
}

/** An attempt to mark as the one that dead-lettered its message. */
export interface DeadLetterRow {
  readonly conversation_id: string
  readonly message_id: string
  readonly attempt: number
  readonly version: number
}

/** The message rows and attempts of a batch, as the events change them in memory. */
export interface BatchChanges {
  readonly messages: Map<string, TrackedMessage>
  readonly attempts: Array<AttemptRow>
  readonly deadLetters: Array<DeadLetterRow>
}

/** An rm_conversations row the batch inserts. */
export interface StartedRow {
  readonly conversation_id: string
  readonly installation_id: string
  readonly external_conversation_id: string
  readonly at: string
  readonly version: number
}

/** An rm_messages row the batch inserts, with its state after the whole batch (the payload as JSON text). */
export type CreatedMessageRow = MessageCreation & MessageState & { readonly payload: string }

/** An existing rm_messages row the batch changes, with its state after the whole batch. */
export type ChangedMessageRow = MessageRow

/** How the batch moves an rm_conversations row: its version, activity, last user and count changes. */
export interface MovedConversationRow extends Counts {
  readonly conversation_id: string
  readonly version: number
  readonly last_activity_at: string | null
  readonly last_user_id: string | null
  readonly last_user_version: number | null
}

/** Everything a batch writes. */
export interface RowChanges {
  readonly started: ReadonlyArray<StartedRow>
  readonly createdMessages: ReadonlyArray<CreatedMessageRow>
  readonly changedMessages: ReadonlyArray<ChangedMessageRow>
  readonly attempts: ReadonlyArray<AttemptRow>
  readonly deadLetters: ReadonlyArray<DeadLetterRow>
  readonly moved: ReadonlyArray<MovedConversationRow>
}
