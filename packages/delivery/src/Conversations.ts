import {
  ConversationCommands,
  ConversationSnapshots,
  ConversationStream,
  EndpointHealth,
  EventStore,
  Ids,
  type InstallationScope,
  type Installations,
  Instant,
  MessagePayload,
  ReadModels
} from "@messaging-api/domain"
import {
  type AcceptedBotMessage,
  Conversations,
  ConversationUnavailable,
  type NewBotMessage,
  type ReceivedMessage
} from "@messaging-api/domain/Conversations"
import { Clock, Effect, Layer, Option } from "effect"
import type { SqlClient } from "effect/sql"
import { Actors } from "./Actors.ts"
import { Bot } from "./Bot.ts"
import { conversationOfMessage, unavailable, write } from "./ConversationWriter.ts"
import { Deliverer } from "./Deliverer.ts"
import * as DeliveryProjector from "./DeliveryProjector.ts"
import { Draining } from "./Draining.ts"
import * as EntityActors from "./EntityActors.ts"
import { KnownConversations } from "./KnownConversations.ts"
import * as LocalActors from "./LocalActors.ts"
import { WebhookClient } from "./WebhookClient.ts"
import { WorkIndex } from "./WorkIndex.ts"
import { WorkLoops } from "./WorkLoops.ts"
import * as WorkScheduler from "./WorkScheduler.ts"

/**
 * The delivery engine's answers to the domain's `Conversations` port (the front door: every
 * command goes through here). It only addresses commands: what they do is the writer's.
 * - `layer`: each conversation's actor (`ConversationActor`), kept in this process
 *   (`LocalActors`), or on the runner that owns the conversation through effect/cluster
 *   (`layerOnShardingWithBots`, `EntityActors`); each actor runs its bot turns and deliveries, and
 *   the delivery projector and the durable schedule bring back every conversation with pending
 *   work after a restart.
 * - `layerDirect`: load → decide → append per command, nothing runs in the background (for
 *   tools such as the CLI; a running server picks up what they append).
 * Both write through `ConversationWriter`: the event store's expected-version check is the guard,
 * a repeated user message is answered from the original event, and the decider is the one check
 * that a scoped caller's conversation is its installation's.
 */

export const layerDirect = Layer.effect(
  Conversations,
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    return makeFrontDoor(
      store,
      (conversationId, command) => write(store, conversationId, command),
      (conversationId) =>
        ConversationStream.loadDecisionState(store, conversationId).pipe(Effect.mapError(unavailable))
    )
  })
)

/**
 * The front door over the actors provided (`Actors`), with their work loops and the durable
 * schedule.
 */
const frontDoor = Layer.effect(
  Conversations,
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const { execute, state } = yield* Actors
    yield* WorkScheduler.run(yield* WorkLoops).pipe(Effect.forkScoped)
    return makeFrontDoor(store, execute, state)
  })
)

/**
 * What the actors of either kind use, and the delivery projector, over the work index of a process
 * alone or of a runner. Closing the engine drains: no new attempts, in-flight ones get
 * `drainTimeout`, then they are interrupted (and retried after a restart).
 */
const engine = (workIndex: typeof WorkIndex.layer, known: typeof KnownConversations.layerAlone) =>
  Layer.mergeAll(
    workIndex,
    known,
    Draining.layer,
    Deliverer.layer.pipe(Layer.provideMerge(EndpointHealth.EndpointHealth.layer)),
    ConversationSnapshots.ConversationSnapshots.layer
  )

/** Everything in this process alone (`LocalActors`), with the given bot. */
export const layerNoBot: Layer.Layer<
  Conversations,
  never,
  EventStore.EventStore | Installations.Installations | SqlClient.SqlClient | Bot
> = frontDoor.pipe(
  Layer.provide(LocalActors.layer),
  Layer.merge(DeliveryProjector.layer),
  Layer.provide(engine(WorkIndex.layerAlone, KnownConversations.layerAlone)),
  Layer.provide(WebhookClient.layer)
)

/**
 * A runner of a cluster (`EntityActors`, on the cluster provided: `SocketCluster.layer`), with the
 * built-in bots; deliveries and http bots go out through `WebhookClient.layer`.
 */
export const layerOnShardingWithBots = frontDoor.pipe(
  Layer.provide(EntityActors.layer),
  Layer.merge(DeliveryProjector.layer),
  Layer.provide(engine(WorkIndex.layer, KnownConversations.layerUnknown)),
  Layer.provide(Bot.layer),
  Layer.provide(WebhookClient.layer)
)

/**
 * Everything in this process alone with the built-in bots. Needs the event store, installations
 * and SQL; deliveries and http bots go out through `WebhookClient.layer` (a pool of its own).
 */
export const layer = layerNoBot.pipe(Layer.provide(Bot.layer), Layer.provide(WebhookClient.layer))

/**
 * receive/post/redeliver over some `execute` (with actors, a command that changed something
 * starts the conversation's work loop where it lives).
 */
const makeFrontDoor = (
  store: EventStore.EventStore["Service"],
  execute: Conversations["Service"]["execute"],
  state: Conversations["Service"]["state"]
): Conversations["Service"] => {
  // The writer answers a repeat (remembered by the decider, or caught by the log's unique event id
  // and read back) as a `DuplicateUserMessage` naming the original.
  const receive = (command: ConversationCommands.ReceiveUserMessage) =>
    execute(command.conversationId, command).pipe(
      Effect.as<ReceivedMessage>({
        messageId: command.messageId,
        userId: command.userId,
        conversationId: command.conversationId,
        duplicate: false
      }),
      Effect.catchTag("DuplicateUserMessage", (duplicate) =>
        Effect.succeed<ReceivedMessage>({ ...duplicate.original, duplicate: true })
      )
    )

  const post = Effect.fn("Conversations.post")(function* (
    conversationId: Ids.ConversationId,
    message: NewBotMessage,
    scope: InstallationScope.InstallationScope = "all"
  ) {
    yield* MessagePayload.validate(message.type, message.payload)
    const messageId = Ids.newMessageId()
    yield* execute(
      conversationId,
      new ConversationCommands.PostBotMessage({
        message: { messageId, type: message.type, payload: message.payload },
        ...(scope === "all" ? {} : { scope }),
        at: Instant.ofMillis(yield* Clock.currentTimeMillis)
      })
    ).pipe(
      Effect.catchTags({
        // Not started, or another installation's: not found either way.
        ConversationNotStarted: () => Effect.fail(new ReadModels.ConversationNotFound({ conversationId })),
        DuplicateEventId: () => Effect.fail(new ConversationUnavailable({ message: "message id collision" }))
      })
    )
    return { messageId, conversationId } satisfies AcceptedBotMessage
  })

  const redeliver = Effect.fn("Conversations.redeliver")(function* (
    messageId: Ids.MessageId,
    scope: InstallationScope.InstallationScope = "all"
  ) {
    const conversationId = yield* conversationOfMessage(store, messageId)
    if (Option.isNone(conversationId)) return yield* new ConversationCommands.UnknownBotMessage({ messageId })
    yield* execute(
      conversationId.value,
      new ConversationCommands.RequestRedelivery({
        messageId,
        ...(scope === "all" ? {} : { scope }),
        at: Instant.ofMillis(yield* Clock.currentTimeMillis)
      })
    ).pipe(
      Effect.catchTags({
        DuplicateEventId: () => Effect.fail(new ConversationUnavailable({ message: "event id collision" })),
        // Another installation's conversation: its messages are unknown to this caller.
        ConversationNotStarted: () => Effect.fail(new ConversationCommands.UnknownBotMessage({ messageId })),
        // The log holds the message (found above) and the conversation no longer does: delivered.
        UnknownBotMessage: () =>
          Effect.fail(new ConversationCommands.NotDeadLettered({ messageId, status: "delivered" }))
      })
    )
    return { messageId, conversationId: conversationId.value } satisfies AcceptedBotMessage
  })

  return Conversations.of({ receive, execute, state, post, redeliver })
}
