import { assert, layer } from "@effect/vitest"
import { Database, EventStore, Installations } from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import { Duration, Effect, Layer } from "effect"
import { inject } from "vitest"
import * as ConversationsEngine from "../src/Conversations.ts"
import * as DeliverySettings from "../src/DeliverySettings.ts"
import * as EchoEngine from "./EchoEngine.ts"
import * as InProcessCluster from "./InProcessCluster.ts"
import * as Receiver from "./Receiver.ts"
import { userMessage } from "./UserMessages.ts"

/**
 * The actors as a runner of a cluster keeps them (`EntityActors`: effect/cluster's conversation
 * entity), here on a cluster of this process alone: commands reach the actor through the cluster,
 * its work loop runs on the owner, and the conversation answers as it does in a process alone.
 */

const mine = new Set<string>()

const settings = DeliverySettings.make({
  onlyInstallations: mine,
  pollInterval: Duration.millis(50),
  drainTimeout: Duration.seconds(2)
})

const TestLayer = ConversationsEngine.layerOnShardingWithBots.pipe(
  Layer.provide(InProcessCluster.layer),
  Layer.provide(Receiver.loopbackGuard),
  Layer.provide(Layer.succeed(DeliverySettings.DeliverySettings, settings)),
  Layer.provideMerge(Layer.mergeAll(EventStore.EventStore.layer, Installations.Installations.layer)),
  Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 6 }))
)

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("actors in cluster entities", (it) => {
  it.effect("answer each message once, in order, and remember what they decided", () =>
    Effect.gen(function* () {
      const receiver = yield* Receiver.make()
      const installation = yield* EchoEngine.echoInstallation(mine, receiver)
      const conversations = yield* Conversations

      const messages = ["first", "second", "third"].map((text) => userMessage(installation, "entity", text))
      for (const message of messages) yield* conversations.receive(message)
      const repeat = yield* conversations.receive(messages[1]!)
      assert.isTrue(repeat.duplicate, "the entity's actor remembers the message")
      yield* receiver.waitFor((requests) => requests.length >= 3)

      const delivered = receiver.requests.map(
        (request) => (JSON.parse(request.body) as { payload: unknown }).payload
      )
      assert.deepStrictEqual(delivered, [{ text: "first" }, { text: "second" }, { text: "third" }])
      const { state } = yield* conversations.state(messages[0]!.conversationId)
      assert.strictEqual(state.started?.installationId, installation.id, "inspected through the entity")
    })
  )
})
