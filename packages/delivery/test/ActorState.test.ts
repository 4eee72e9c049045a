import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import {
  ConversationDecider,
  ConversationStream,
  Database,
  EventStore,
  Ids,
  Installations
} from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import * as ConversationSteps from "@messaging-api/domain/test/ConversationSteps"
import { Duration, Effect, Layer, References, Result, Schema, Stream } from "effect"
import { inject } from "vitest"
import { Bot } from "../src/Bot.ts"
import * as ConversationsEngine from "../src/Conversations.ts"
import * as DeliverySettings from "../src/DeliverySettings.ts"
import * as Receiver from "./Receiver.ts"

/**
 * The live actor holds the state its events fold to. Random commands go through
 * `Conversations.execute` to one conversation's actor; before and after each, the state the actor
 * holds in memory (`Conversations.state`) must equal the fold of the stored stream, at the same
 * version, and each answer must be the decider's on that state. Then the actors stop (as a
 * process does) and a new actor, activated by the next message, must hold the same state and go
 * on agreeing with the log.
 *
 * The engine's own work must not write meanwhile: the bot never answers and the response
 * endpoint never answers (both within limits of an hour), and the schedule resumes no
 * conversation of this file. A loop started by a command waits on them and records nothing.
 * An actor whose loop is in flight counts as busy and is never passivated, so leaving memory is
 * exercised as a restart: either way the next actor for the conversation starts from the log.
 */

const Storage = Layer.mergeAll(EventStore.EventStore.layer, Installations.Installations.layer).pipe(
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 6 }))
)

const settings = DeliverySettings.make({
  onlyInstallations: new Set(),
  botTimeout: Duration.hours(1),
  requestTimeout: Duration.hours(1),
  drainTimeout: Duration.millis(1)
})

const NeverAnswers = Layer.succeed(Bot, Bot.of({ respond: () => Stream.never }))

/** One life of the actors: built for the effect, closed after it (draining, as at shutdown). */
const Actors = ConversationsEngine.layerNoBot.pipe(
  Layer.provide([NeverAnswers, Receiver.loopbackGuard]),
  Layer.provide(Layer.succeed(DeliverySettings.DeliverySettings, settings)),
  Layer.provide(Layer.succeed(References.MinimumLogLevel, "Warn"))
)

/** The steps of a life in which the endpoint is never paused (the schedule resumes none of this file's). */
const Step = Schema.Union([
  ConversationSteps.Receive,
  ConversationSteps.Complete,
  ConversationSteps.Fail,
  ConversationSteps.Post,
  ConversationSteps.Attempt,
  ConversationSteps.Redeliver
])
type Step = typeof Step.Type

/** Up to 7 commands in each life; with the opening message, at most 15 in all. */
const Steps = Schema.Array(Step).check(Schema.isMaxLength(7))

const assertSameState = (
  actor: ConversationStream.LoadedDecisionState,
  other: ConversationStream.LoadedDecisionState,
  what: string
) => {
  assert.strictEqual(actor.version, other.version, `${what}: version`)
  assert.deepStrictEqual(actor.state, other.state, what)
}

/** The actor's state against a fresh fold of the stored stream. */
const assertActorAgreesWithLog = (conversationId: Ids.ConversationId, what: string) =>
  Effect.gen(function* () {
    const conversations = yield* Conversations
    const store = yield* EventStore.EventStore
    const actor = yield* conversations.state(conversationId)
    const stored = yield* ConversationStream.loadDecisionState(store, conversationId)
    assertSameState(actor, stored, what)
    return actor
  })

layer(Storage, { timeout: 120_000, excludeTestServices: true })("Actor state", (it) => {
  it.effect.prop(
    "the live actor's state is the fold of its stored events, also after the actors restart",
    [Steps, Steps],
    ([first, then]) =>
      Effect.gen(function* () {
        const endpoint = yield* Receiver.make(() => "hang")
        const installation = yield* (yield* Installations.Installations).create({
          bot: { _tag: "echo" },
          responseUrl: endpoint.url,
          retrySchedule: [60_000]
        })
        const external = `actor-${randomUUID()}`
        const conversationId = Ids.conversationIdFor(installation.id, external)
        const emitted: Array<Ids.MessageId> = []
        const at = ConversationSteps.ticking()

        /** One command through the front door: the actor answers as the decider does on the state it holds. */
        const run = (step: Step, index: number) =>
          Effect.gen(function* () {
            const conversations = yield* Conversations
            const before = yield* assertActorAgreesWithLog(conversationId, `before step ${index}`)
            const command = ConversationSteps.commandFor(step, {
              installationId: installation.id,
              externalConversationId: external,
              at,
              ...ConversationSteps.heldBy(before.state),
              emitted
            })
            const expected = ConversationDecider.decide(command, before.state)
            const answer = yield* Effect.result(conversations.execute(conversationId, command))
            if (Result.isFailure(expected)) {
              assert.isTrue(Result.isFailure(answer), `step ${index}: ${command._tag} is rejected`)
              if (Result.isFailure(answer)) assert.strictEqual(answer.failure._tag, expected.failure._tag)
            } else {
              if (Result.isFailure(answer)) assert.fail(`step ${index}: ${answer.failure._tag}`)
              assert.deepStrictEqual(answer.success.events, expected.success)
              assert.strictEqual(answer.success.version, before.version + expected.success.length)
              for (const event of answer.success.events) {
                if (event._tag === "BotMessageEmitted") emitted.push(event.messageId)
              }
            }
            yield* assertActorAgreesWithLog(conversationId, `after step ${index}`)
          })

        const held = yield* Effect.gen(function* () {
          yield* Effect.forEach([ConversationSteps.opening, ...first], run, { discard: true })
          return yield* assertActorAgreesWithLog(conversationId, "at the end of the first life")
        }).pipe(Effect.provide(Actors, { local: true }))

        yield* Effect.gen(function* () {
          const conversations = yield* Conversations
          // A new actor, activated by this message, reads the log: the state the old one held.
          assertSameState(yield* conversations.state(conversationId), held, "after the restart")
          yield* Effect.forEach(then, (step, i) => run(step, first.length + 1 + i), { discard: true })
          yield* assertActorAgreesWithLog(conversationId, "at the end of the second life")
        }).pipe(Effect.provide(Actors, { local: true }))
      }),
    { arbitrary: { runs: 25 } }
  )
})
