import { type Conversation, DecisionState } from "@messaging-api/domain"

/**
 * What a conversation's work loop does next, decided from its state, the clock and whether its
 * endpoint is paused: a pure function, so the plan is tested without a database or a clock.
 * Bot turns first, oldest first; then the outbox head (held while the endpoint is paused);
 * otherwise the earliest retry time. A recorded pause whose endpoint is no longer paused ends first.
 */

export type Work =
  | { readonly _tag: "Turn"; readonly turn: DecisionState.OpenTurn }
  | { readonly _tag: "Deliver"; readonly message: Conversation.BotMessage }
  /** A delivery is due but the endpoint is paused, and the conversation has not recorded it yet. */
  | { readonly _tag: "Pause" }
  /** A delivery is due but held (the pause is recorded); `until`: when a bot turn is due, if one is. */
  | { readonly _tag: "Held"; readonly until: number | null }
  /** The conversation recorded a pause and its endpoint is no longer paused. */
  | { readonly _tag: "Resume" }
  | { readonly _tag: "Wait"; readonly until: number }
  | { readonly _tag: "Idle" }

export const nextWork = (state: DecisionState.DecisionState, now: number, endpointPaused = false): Work => {
  if (state.deliveriesPausedAt !== null && !endpointPaused) return { _tag: "Resume" }
  let until = Number.POSITIVE_INFINITY
  const turn = state.openTurns[0]
  if (turn !== undefined) {
    const due = turn.retryAt === null ? now : Date.parse(turn.retryAt)
    if (due <= now) return { _tag: "Turn", turn }
    until = Math.min(until, due)
  }
  const message = DecisionState.nextDelivery(state)
  if (message !== undefined) {
    const due = message.nextAttemptAt === null ? now : Date.parse(message.nextAttemptAt)
    if (due <= now) {
      if (!endpointPaused) return { _tag: "Deliver", message }
      if (state.deliveriesPausedAt === null) return { _tag: "Pause" }
      return { _tag: "Held", until: Number.isFinite(until) ? until : null }
    }
    until = Math.min(until, due)
  }
  return Number.isFinite(until) ? { _tag: "Wait", until } : { _tag: "Idle" }
}
