import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Effect, HashMap, Result, Schema } from "effect"
import { type ConversationState, fold, initialState } from "../src/Conversation.ts"
import { decide } from "../src/ConversationDecider.ts"
import type { ConversationEvent } from "../src/ConversationEvents.ts"
import { load, loadDecisionState, toNewEvent } from "../src/ConversationStream.ts"
import * as DecisionState from "../src/DecisionState.ts"
import { EventStore } from "../src/EventStore.ts"
import { conversationIdFor, conversationStream, type MessageId } from "../src/Ids.ts"
import { foldUntil, readTimeline } from "../src/Timeline.ts"
import * as ConversationSteps from "./ConversationSteps.ts"
import * as FullHistory from "./FullHistoryDecider.ts"
import { assertAgreesWithFold, newInstallation, projectedUpTo, TestLayer } from "./ProjectionFixtures.ts"

/**
 * Replaying a conversation from the store gives the state its writer held. A random sequence of
 * commands runs as a live writer does: decide on the (compact) decision state it holds, append at
 * the version it holds, evolve its states with the events. Then the stored stream, folded afresh
 * (and through the replay timeline), must give those same states; and the read models must agree.
 *
 * Along the way, each command's decision on the compact state is compared with the decision the
 * decider made on the whole history (`FullHistoryDecider.ts`, the reference): the same events, or
 * one of the documented places where the compact state leaves the answer to the event store (see
 * `sameDecision`).
 */

type Decision = Result.Result<ReadonlyArray<ConversationEvent>, { readonly _tag: string }>

/**
 * The compact decision equals the full one, except where the full history knew something the
 * compact state has let go of, and the event store's unique event ids still refuse the repeat:
 * - a repeated bot message id the history held (delivered): the compact state emits it again,
 *   and the store refuses the `BotMessageEmitted` (its event id is derived from the message id);
 * - an attempt recorded for a message the conversation never emitted: the compact state cannot
 *   tell it from a delivered one and changes nothing;
 * - a redelivery of a delivered message: `UnknownBotMessage` instead of `NotDeadLettered` (the
 *   front door, which found the message in the log, answers it as not dead-lettered).
 * (A user message repeated after it left the window of recent ones would be the fourth; the
 * sequences here stay inside the window.)
 */
const sameDecision = (compact: Decision, full: Decision, emitted: ReadonlyArray<MessageId>): boolean => {
  if (Result.isSuccess(compact) && Result.isSuccess(full)) {
    if (JSON.stringify(compact.success) === JSON.stringify(full.success)) return true
    return (
      full.success.length === 0 &&
      compact.success.every(
        (event) => event._tag === "BotMessageEmitted" && emitted.includes(event.messageId)
      )
    )
  }
  if (Result.isFailure(compact) && Result.isFailure(full)) {
    return (
      compact.failure._tag === full.failure._tag ||
      (compact.failure._tag === "UnknownBotMessage" && full.failure._tag === "NotDeadLettered")
    )
  }
  return Result.isSuccess(compact) && compact.success.length === 0 && Result.isFailure(full)
    ? full.failure._tag === "UnknownBotMessage"
    : false
}

const Steps = Schema.Array(ConversationSteps.Step).check(Schema.isMinLength(8), Schema.isMaxLength(40))

/** A state with its hash maps as sorted entry lists, so two states compare field by field. */
const comparable = (state: ConversationState) =>
  Object.fromEntries(
    Object.entries(state).map(([key, value]) => [
      key,
      HashMap.isHashMap(value)
        ? [...HashMap.toEntries(value)].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1))
        : value
    ])
  )

layer(TestLayer, { timeout: 120_000, excludeTestServices: true })("Replay", (it) => {
  it.effect.prop(
    "folding a conversation's stored events equals the state accumulated command by command",
    [Steps],
    ([steps]) =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const installation = newInstallation()
        const external = `prop-${randomUUID()}`
        const conversationId = conversationIdFor(installation, external)
        const stream = conversationStream(conversationId)
        const emitted: Array<MessageId> = []
        let state = initialState
        let compact = DecisionState.initialState
        let version = 0
        const at = ConversationSteps.ticking()

        const deadLettered = () =>
          emitted.filter((id) => {
            const message = HashMap.get(state.botMessages, id)
            return message._tag === "Some" && message.value.status === "dead_lettered"
          })
        /** The conversation as the full state holds it. */
        const conversation = (): ConversationSteps.Conversation => ({
          installationId: installation,
          externalConversationId: external,
          at,
          openTurns: state.openTurns.map((turn) => turn.userMessageId),
          outboxHead: state.outbox[0],
          deadLetters: deadLettered(),
          emitted
        })

        for (const step of [ConversationSteps.opening, ...steps]) {
          const command = ConversationSteps.commandFor(step, conversation())
          const decision = decide(command, compact)
          const reference = FullHistory.decide(command, state)
          assert.isTrue(
            sameDecision(decision, reference, emitted),
            `${command._tag}: compact ${JSON.stringify(decision)} vs full ${JSON.stringify(reference)}`
          )
          if (Result.isFailure(decision) || decision.success.length === 0) continue
          const events = decision.success
          const appended = yield* store.append(
            stream,
            version,
            events.map((event) => toNewEvent(event, randomUUID()))
          )
          version = appended.version
          state = fold(events, state)
          compact = DecisionState.fold(events, compact)
          for (const event of events) if (event._tag === "BotMessageEmitted") emitted.push(event.messageId)
        }

        const loaded = yield* load(store, conversationId)
        assert.strictEqual(loaded.version, version)
        assert.deepStrictEqual(comparable(loaded.state), comparable(state))
        const loadedCompact = yield* loadDecisionState(store, conversationId)
        assert.strictEqual(loadedCompact.version, version)
        assert.deepStrictEqual(loadedCompact.state, compact)
        const replayed = foldUntil(yield* readTimeline(store, conversationId))
        assert.strictEqual(replayed.version, version)
        assert.deepStrictEqual(comparable(replayed.state), comparable(state))
        if (version > 0) {
          yield* projectedUpTo([conversationId])
          yield* assertAgreesWithFold(conversationId)
        }
      }),
    { arbitrary: { runs: 40, size: 40 } }
  )
})
