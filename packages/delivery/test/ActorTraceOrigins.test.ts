import { assert, describe, it } from "@effect/vitest"
import { ConversationEvents, Ids } from "@messaging-api/domain"
import { Effect, Option, References } from "effect"
import * as ActorTraceOrigins from "../src/ActorTraceOrigins.ts"

/** The trace an actor's work continues: the span its command arrived under, with no stack captured per piece of work. */

const installation = "0f4f6a2e-4b8c-4f39-9a53-7d0b1c2e3f40" as Ids.InstallationId
const messageId = Ids.userMessageIdFor(installation, "m-1")
const received = new ConversationEvents.UserMessageReceived({
  messageId,
  externalMessageId: "m-1",
  userId: Ids.userIdFor(installation, "alice"),
  externalUserId: "alice",
  type: "text",
  text: "hello",
  payload: { text: "hello" },
  fingerprint: "f",
  receivedAt: "2026-11-25T12:00:00.000Z"
})

/** The span the effect runs under, and whether a stack trace was captured for the frame it runs in. */
const observed = Effect.gen(function* () {
  const parent = yield* Effect.currentParentSpan.pipe(Effect.option)
  const frame = yield* References.CurrentStackFrame
  return { parent: Option.map(parent, (span) => span.spanId), stack: frame?.stack() }
})

describe("ActorTraceOrigins", () => {
  it.effect(
    "runs the work of a remembered message under the span its command arrived under, capturing no stack",
    () =>
      Effect.gen(function* () {
        const origins = ActorTraceOrigins.make()
        const origin = yield* Effect.makeSpan("webhook request")
        origins.remember({ events: [received], version: 2 }, Option.some(origin))
        const seen = yield* origins.continuing(messageId, observed)
        assert.deepStrictEqual(seen.parent, Option.some(origin.spanId))
        assert.isUndefined(seen.stack)
      })
  )

  it.effect(
    "leaves the work of a message it does not know, or no longer knows, in the loop's own trace",
    () =>
      Effect.gen(function* () {
        const origins = ActorTraceOrigins.make()
        const origin = yield* Effect.makeSpan("webhook request")
        origins.remember({ events: [received], version: 2 }, Option.some(origin))
        origins.remember(
          {
            events: [
              new ConversationEvents.BotTurnCompleted({
                userMessageId: messageId,
                messageCount: 0,
                completedAt: "2026-11-25T12:00:01.000Z"
              })
            ],
            version: 3
          },
          Option.none()
        )
        const seen = yield* origins.continuing(messageId, observed)
        assert.isTrue(Option.isNone(seen.parent))
      })
  )
})
