import { assert, layer } from "@effect/vitest"
import { ConversationCommands, Ids } from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import { Duration, Effect } from "effect"
import * as DeliverySettings from "../src/DeliverySettings.ts"
import * as EchoEngine from "./EchoEngine.ts"
import * as Receiver from "./Receiver.ts"

/**
 * No ceiling on live conversations below what memory allows: effect/cluster's default of 10,000
 * resident entities made the 10,001st conversation answer "busy" until others passivated. Here
 * 20,000 conversations get a message each while none may passivate yet; every message must be
 * accepted and every conversation's reply delivered.
 */

const mine = new Set<string>()

const settings = DeliverySettings.make({
  onlyInstallations: mine,
  // Nothing leaves memory during the test: all 20,000 are live at once.
  passivateAfter: Duration.minutes(10),
  drainTimeout: Duration.seconds(2)
})

const TestLayer = EchoEngine.layer(settings, { maxConnections: 8 })

const COUNT = 20_000

layer(TestLayer, { timeout: 300_000, excludeTestServices: true })("capacity", (it) => {
  it.effect(
    "20,000 live conversations are all answered: no message is refused as busy",
    () =>
      Effect.gen(function* () {
        const receiver = yield* Receiver.make()
        const installation = yield* EchoEngine.echoInstallation(mine, receiver)
        const conversations = yield* Conversations

        const outcomes = yield* Effect.forEach(
          Array.from({ length: COUNT }, (_, i) => i),
          (i) => {
            const external = `capacity-${i}`
            return conversations
              .receive(
                new ConversationCommands.ReceiveUserMessage({
                  conversationId: Ids.conversationIdFor(installation.id, external),
                  installationId: installation.id,
                  externalConversationId: external,
                  messageId: Ids.userMessageIdFor(installation.id, `m-${i}`),
                  externalMessageId: `m-${i}`,
                  userId: Ids.userIdFor(installation.id, "user"),
                  externalUserId: "user",
                  type: "text",
                  text: `hello ${i}`,
                  payload: { text: `hello ${i}` },
                  fingerprint: `fingerprint-${i}`,
                  at: new Date().toISOString()
                })
              )
              .pipe(
                Effect.as("accepted" as const),
                Effect.catch((error) =>
                  Effect.succeed(`${error._tag}: ${"message" in error ? error.message : ""}`)
                )
              )
          },
          { concurrency: 64 }
        )
        const refused = outcomes.filter((outcome) => outcome !== "accepted")
        assert.deepStrictEqual(refused.slice(0, 3), [], `${refused.length} of ${COUNT} refused`)

        // Every conversation answered: one reply per conversation, all different.
        const answered = new Set<string>()
        let read = 0
        yield* receiver.waitFor((requests) => {
          for (; read < requests.length; read++) {
            answered.add((JSON.parse(requests[read]!.body) as { conversationId: string }).conversationId)
          }
          return answered.size >= COUNT
        })
        assert.strictEqual(answered.size, COUNT)
      }),
    // About 30 s on its own; a machine busy with other work may need several times that.
    { timeout: 180_000 }
  )
})
