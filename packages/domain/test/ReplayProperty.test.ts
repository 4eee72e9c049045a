import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Effect, HashMap, Result, Schema } from "effect"
import { type ConversationState, fold, initialState } from "../src/Conversation.ts"
import {
  CompleteBotTurn,
  type ConversationCommand,
  FailBotTurn,
  PostBotMessage,
  RecordDeliveryAttempt,
  RequestRedelivery
} from "../src/ConversationCommands.ts"
import { decide } from "../src/ConversationDecider.ts"
import { load, toNewEvent } from "../src/ConversationStream.ts"
import { EventStore } from "../src/EventStore.ts"
import { conversationIdFor, conversationStream, type MessageId, newMessageId } from "../src/Ids.ts"
import { foldUntil, readTimeline } from "../src/Timeline.ts"
import {
  assertAgreesWithFold,
  newInstallation,
  projectedUpTo,
  receive,
  TestLayer
} from "./ProjectionFixtures.ts"

/**
 * Replaying a conversation from the store gives the state its writer held. A random sequence of
 * commands runs as a live writer does: decide on the state it holds, append at the version it
 * holds, evolve its state with the events. Then the stored stream, folded afresh (and through the
 * replay timeline), must give that same state; and the read models must agree with it.
 */

const Small = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 3 }))

const Step = Schema.Union([
  Schema.TaggedStruct("Receive", { message: Small, user: Small, edited: Schema.Boolean }),
  Schema.TaggedStruct("Complete", { turn: Small, replies: Small }),
  Schema.TaggedStruct("Fail", { turn: Small, giveUp: Schema.Boolean }),
  Schema.TaggedStruct("Post", { unknownConversation: Schema.Boolean }),
  Schema.TaggedStruct("Attempt", {
    message: Small,
    outcome: Schema.Literals(["delivered", "retry", "dead_letter"])
  }),
  Schema.TaggedStruct("Redeliver", { message: Small })
])
type Step = typeof Step.Type

const Steps = Schema.Array(Step).check(Schema.isMinLength(8), Schema.isMaxLength(40))

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
        let version = 0
        let clock = Date.parse("2026-11-25T12:00:00.000Z")
        const at = () => {
          clock += 1000
          return new Date(clock).toISOString()
        }

        const deadLettered = () =>
          emitted.filter((id) => {
            const message = HashMap.get(state.botMessages, id)
            return message._tag === "Some" && message.value.status === "dead_lettered"
          })
        const commandFor = (step: Step): ConversationCommand => {
          const nth = <A>(items: ReadonlyArray<A>, i: number): A | undefined =>
            items.length === 0 ? undefined : items[i % items.length]
          switch (step._tag) {
            case "Receive":
              return receive(
                installation,
                external,
                `${external}-m${step.message}`,
                step.edited ? `edited ${step.message}` : `text ${step.message}`,
                at(),
                `user-${step.user}`
              )
            case "Complete":
              return new CompleteBotTurn({
                userMessageId: nth(state.openTurns, step.turn)?.userMessageId ?? newMessageId(),
                messages: Array.from({ length: step.replies }, (_, i) => ({
                  messageId: newMessageId(),
                  type: "text",
                  payload: { text: `reply ${i}` }
                })),
                at: at()
              })
            case "Fail":
              return new FailBotTurn({
                userMessageId: nth(state.openTurns, step.turn)?.userMessageId ?? newMessageId(),
                reason: "bot unavailable",
                retryAt: step.giveUp ? null : at(),
                at: at()
              })
            case "Post":
              return new PostBotMessage({
                message: { messageId: newMessageId(), type: "text", payload: { text: "posted" } },
                ...(step.unknownConversation ? { installationId: newInstallation() } : {}),
                at: at()
              })
            case "Attempt": {
              // Mostly the outbox's head (the only message attempts are recorded for), sometimes another.
              const messageId =
                (step.message < 3 ? state.outbox[0] : undefined) ??
                nth(emitted, step.message) ??
                newMessageId()
              const time = at()
              const outcome =
                step.outcome === "delivered"
                  ? { _tag: "Delivered" as const, status: 200 }
                  : step.outcome === "retry"
                    ? { _tag: "Retry" as const, status: 503, error: "HTTP 503", nextAttemptAt: time }
                    : { _tag: "DeadLetter" as const, status: 410, reason: "HTTP 410" }
              return new RecordDeliveryAttempt({ messageId, outcome, durationMs: 5, at: time })
            }
            case "Redeliver":
              return new RequestRedelivery({
                messageId: nth(deadLettered(), step.message) ?? nth(emitted, step.message) ?? newMessageId(),
                at: at()
              })
          }
        }

        // Every conversation starts with a user message; the rest is up to chance.
        const opening: Step = { _tag: "Receive", message: 0, user: 0, edited: false }
        for (const step of [opening, ...steps]) {
          const decision = decide(commandFor(step), state)
          if (Result.isFailure(decision) || decision.success.length === 0) continue
          const events = decision.success
          const appended = yield* store.append(
            stream,
            version,
            events.map((event) => toNewEvent(event, randomUUID()))
          )
          version = appended.version
          state = fold(events, state)
          for (const event of events) if (event._tag === "BotMessageEmitted") emitted.push(event.messageId)
        }

        const loaded = yield* load(store, conversationId)
        assert.strictEqual(loaded.version, version)
        assert.deepStrictEqual(comparable(loaded.state), comparable(state))
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
