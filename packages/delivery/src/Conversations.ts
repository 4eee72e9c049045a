import {
  ConversationCommands,
  ConversationEvents,
  ConversationSnapshots,
  ConversationStream,
  EndpointHealth,
  EventStore,
  Ids,
  type Installations,
  type ReadModels
} from "@messaging-api/domain"
import { Clock, Context, Effect, Layer, Schema, Stream } from "effect"
import type { Sharding } from "effect/cluster"
import type { SqlClient } from "effect/sql"
import { Bot } from "./Bot.ts"
import * as ConversationEntity from "./ConversationEntity.ts"
import {
  type CommandError,
  type CommandResult,
  ConversationNotFound,
  ConversationUnavailable,
  conversationOfMessage,
  unavailable,
  write
} from "./ConversationWriter.ts"
import { Deliverer } from "./Deliverer.ts"
import * as DeliveryProjector from "./DeliveryProjector.ts"
import { Draining } from "./Draining.ts"
import * as InProcessCluster from "./InProcessCluster.ts"
import * as MessagePayload from "./MessagePayload.ts"
import { WebhookClient } from "./WebhookClient.ts"
import { WorkIndex } from "./WorkIndex.ts"
import { WorkLoops } from "./WorkLoops.ts"
import * as WorkScheduler from "./WorkScheduler.ts"

export {
  type CommandError,
  type CommandResult,
  ConversationNotFound,
  ConversationUnavailable,
  eventIdFor
} from "./ConversationWriter.ts"

/**
 * The front door to conversations: every command goes through here.
 * - `layer`: one actor per live conversation (effect/cluster entities in this process), each
 *   running its bot turns and deliveries; the delivery projector and the durable schedule bring
 *   back every conversation with pending work after a restart.
 * - `layerDirect`: load → decide → append per command, nothing runs in the background (for
 *   tools such as the CLI; a running server picks up what they append).
 * Both write through `ConversationWriter`: the event store's expected-version check is the guard.
 */

/** What the inbound webhook answers with: our ids for the message, its user and its conversation. */
export interface ReceivedMessage {
  readonly messageId: Ids.MessageId
  readonly userId: Ids.UserId
  readonly conversationId: Ids.ConversationId
  /** True when this (installation, messageId) was already accepted with the same body. */
  readonly duplicate: boolean
}

/** A message a bot sends on its own (not as the answer to a user message). */
export interface NewBotMessage {
  readonly type: string
  readonly payload: Schema.Json
}

/** Our ids for an accepted bot message or redelivery. */
export interface AcceptedBotMessage {
  readonly messageId: Ids.MessageId
  readonly conversationId: Ids.ConversationId
}

/**
 * The installations the caller may act on ("all", or the ids its token is limited to):
 * conversations and messages of any other installation are not found, exactly like unknown ones.
 */
export type Scope = ReadModels.InstallationScope

export class Conversations extends Context.Service<
  Conversations,
  {
    /** Appends the user message (starting the conversation if needed); resolves once it is committed. */
    receive(
      command: ConversationCommands.ReceiveUserMessage
    ): Effect.Effect<ReceivedMessage, ConversationCommands.MessageIdReused | ConversationUnavailable>
    /** Runs any command against one conversation. */
    execute(
      conversationId: Ids.ConversationId,
      command: ConversationCommands.ConversationCommand
    ): Effect.Effect<CommandResult, CommandError>
    /** A bot message posted later by the bot; validated, appended, then delivered in order. */
    post(
      conversationId: string,
      message: NewBotMessage,
      scope?: Scope
    ): Effect.Effect<
      AcceptedBotMessage,
      ConversationNotFound | MessagePayload.InvalidMessagePayload | ConversationUnavailable
    >
    /**
     * The conversation's decision state and stream version as its writer holds them: the live
     * actor's state in memory (`layer`), a fresh fold of the log (`layerDirect`). For inspection.
     */
    state(
      conversationId: Ids.ConversationId
    ): Effect.Effect<ConversationStream.LoadedDecisionState, ConversationUnavailable>
    /** Queues a dead-lettered message for delivery again (behind whatever is pending). */
    redeliver(
      messageId: string,
      scope?: Scope
    ): Effect.Effect<
      AcceptedBotMessage,
      ConversationCommands.UnknownBotMessage | ConversationCommands.NotDeadLettered | ConversationUnavailable
    >
  }
>()("@messaging-api/delivery/Conversations") {
  static readonly layerDirect = Layer.effect(
    Conversations,
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      return makeFrontDoor(store, makeExecute(store), (conversationId) =>
        ConversationStream.loadDecisionState(store, conversationId).pipe(Effect.mapError(unavailable))
      )
    })
  )

  /**
   * The actors, their work loops, the delivery projector and the durable schedule, on the given
   * cluster (`Sharding`) and bot. Closing it drains: no new attempts, in-flight ones get
   * `drainTimeout`, then they are interrupted (and retried after a restart).
   */
  static readonly layerOnSharding: Layer.Layer<
    Conversations,
    never,
    EventStore.EventStore | Installations.Installations | SqlClient.SqlClient | Bot | Sharding.Sharding
  > = Layer.effect(
    Conversations,
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const clientFor = yield* ConversationEntity.Conversation.client
      const loops = yield* WorkLoops

      const execute = (
        conversationId: Ids.ConversationId,
        command: ConversationCommands.ConversationCommand
      ): Effect.Effect<CommandResult, CommandError> =>
        // Entity ids are our lowercase uuids: one conversation, one entity (and one shard).
        clientFor(conversationId.toLowerCase())
          .Execute({ command })
          .pipe(
            Effect.catchTags({
              MailboxFull: () =>
                Effect.fail(new ConversationUnavailable({ message: "the conversation is busy" })),
              AlreadyProcessingMessage: () =>
                Effect.fail(
                  new ConversationUnavailable({ message: "the command is already being processed" })
                ),
              PersistenceError: () =>
                Effect.fail(
                  new ConversationUnavailable({ message: "the conversation could not be reached" })
                ),
              EntityNotAssignedToRunner: () =>
                Effect.fail(new ConversationUnavailable({ message: "the conversation could not be reached" }))
            })
          )

      const state = (conversationId: Ids.ConversationId) =>
        clientFor(conversationId.toLowerCase())
          .Inspect()
          .pipe(
            Effect.catch((error) =>
              Effect.fail(
                error._tag === "ConversationUnavailable"
                  ? error
                  : new ConversationUnavailable({
                      message: `the conversation could not be reached (${error._tag})`
                    })
              )
            )
          )

      yield* WorkScheduler.run(loops).pipe(Effect.forkScoped)

      return makeFrontDoor(store, execute, state)
    })
  ).pipe(
    Layer.provide(ConversationEntity.layer),
    Layer.merge(DeliveryProjector.layer),
    Layer.provide(
      Layer.mergeAll(
        WorkIndex.layer,
        Draining.layer,
        Deliverer.layer.pipe(Layer.provideMerge(EndpointHealth.EndpointHealth.layer)),
        ConversationSnapshots.ConversationSnapshots.layer
      )
    ),
    Layer.provide(WebhookClient.layer)
  )

  /** `layerOnSharding` on a cluster of this process alone, with the given bot. */
  static readonly layerNoBot = Conversations.layerOnSharding.pipe(Layer.provide(InProcessCluster.layer))

  /**
   * `layerOnSharding` with the built-in bots, on the cluster provided (`SocketCluster.layer` for a
   * runner of several processes); deliveries and http bots go out through `WebhookClient.layer`.
   */
  static readonly layerOnShardingWithBots = Conversations.layerOnSharding.pipe(
    Layer.provide(Bot.layer),
    Layer.provide(WebhookClient.layer)
  )

  /**
   * Everything in this process with the built-in bots. Needs the event store, installations and
   * SQL; deliveries and http bots go out through `WebhookClient.layer` (a pool of its own).
   */
  static readonly layer = Conversations.layerOnShardingWithBots.pipe(Layer.provide(InProcessCluster.layer))
}

/**
 * receive/post/redeliver over some `execute` (with actors, a command that changed something
 * starts the conversation's work loop where it lives).
 */
const makeFrontDoor = (
  store: EventStore.EventStore["Service"],
  execute: Conversations["Service"]["execute"],
  state: Conversations["Service"]["state"]
): Conversations["Service"] => {
  const receive = makeReceive(store, execute)

  /**
   * The conversation's installation when the scope lets the caller see it: `undefined` for an
   * unknown conversation or another installation's; `"any"` when the scope is "all" (not read).
   */
  const ownerInScope = (conversationId: Ids.ConversationId, scope: Scope) =>
    scope === "all"
      ? Effect.succeed<Ids.InstallationId | "any">("any")
      : installationOf(store, conversationId).pipe(
          Effect.map((owner) =>
            owner !== undefined && scope.some((id) => id.toLowerCase() === owner.toLowerCase())
              ? (owner as Ids.InstallationId)
              : undefined
          )
        )

  const post = Effect.fn("Conversations.post")(function* (
    conversationId: string,
    message: NewBotMessage,
    scope: Scope = "all"
  ) {
    if (!Schema.is(Ids.ConversationId)(conversationId))
      return yield* new ConversationNotFound({ conversationId })
    const owner = yield* ownerInScope(conversationId, scope)
    if (owner === undefined) return yield* new ConversationNotFound({ conversationId })
    yield* MessagePayload.validate(message.type, message.payload)
    const messageId = Ids.newMessageId()
    yield* execute(
      conversationId,
      new ConversationCommands.PostBotMessage({
        message: { messageId, type: message.type, payload: message.payload },
        // The decider checks it again against the state it appends to.
        ...(owner === "any" ? {} : { installationId: owner }),
        at: new Date(yield* Clock.currentTimeMillis).toISOString()
      })
    ).pipe(
      Effect.catchTags({
        ConversationNotStarted: () => Effect.fail(new ConversationNotFound({ conversationId })),
        DuplicateEventId: () => Effect.fail(new ConversationUnavailable({ message: "message id collision" })),
        DuplicateUserMessage: Effect.die,
        MessageIdReused: Effect.die,
        UnknownBotMessage: Effect.die,
        NotDeadLettered: Effect.die
      })
    )
    return { messageId, conversationId } satisfies AcceptedBotMessage
  })

  const redeliver = Effect.fn("Conversations.redeliver")(function* (messageId: string, scope: Scope = "all") {
    const conversationId = yield* conversationOfMessage(store, messageId)
    if (conversationId === undefined || (yield* ownerInScope(conversationId, scope)) === undefined) {
      return yield* new ConversationCommands.UnknownBotMessage({ messageId })
    }
    yield* execute(
      conversationId,
      new ConversationCommands.RequestRedelivery({
        messageId: messageId as Ids.MessageId,
        at: new Date(yield* Clock.currentTimeMillis).toISOString()
      })
    ).pipe(
      Effect.catchTags({
        DuplicateEventId: () => Effect.fail(new ConversationUnavailable({ message: "event id collision" })),
        // The log holds the message (found above) and the conversation no longer does: delivered.
        UnknownBotMessage: () =>
          Effect.fail(new ConversationCommands.NotDeadLettered({ messageId, status: "delivered" })),
        DuplicateUserMessage: Effect.die,
        MessageIdReused: Effect.die,
        ConversationNotStarted: Effect.die
      })
    )
    return { messageId: messageId as Ids.MessageId, conversationId } satisfies AcceptedBotMessage
  })

  return Conversations.of({ receive, execute, state, post, redeliver })
}

/** The installation a conversation belongs to, from its first event. */
const installationOf = (
  store: EventStore.EventStore["Service"],
  conversationId: Ids.ConversationId
): Effect.Effect<string | undefined, ConversationUnavailable> =>
  store.readStream(Ids.conversationStream(conversationId)).pipe(
    Stream.take(1),
    Stream.mapEffect(ConversationStream.fromRecorded),
    Stream.runHead,
    Effect.map((first) =>
      first._tag === "Some" && first.value._tag === "ConversationStarted"
        ? first.value.installationId
        : undefined
    ),
    Effect.mapError(unavailable)
  )

export const makeExecute =
  (store: EventStore.EventStore["Service"]) =>
  (
    conversationId: Ids.ConversationId,
    command: ConversationCommands.ConversationCommand
  ): Effect.Effect<CommandResult, CommandError> =>
    write(store, conversationId, command)

/**
 * Receiving is `execute` plus idempotency across conversations: the user message's event id is
 * derived from (installation, messageId), so a repeat aimed at another conversation is caught by
 * the event store's unique event id and answered from the original event.
 */
export const makeReceive =
  (store: EventStore.EventStore["Service"], execute: Conversations["Service"]["execute"]) =>
  (
    command: ConversationCommands.ReceiveUserMessage
  ): Effect.Effect<ReceivedMessage, ConversationCommands.MessageIdReused | ConversationUnavailable> =>
    execute(command.conversationId, command).pipe(
      Effect.as<ReceivedMessage>({
        messageId: command.messageId,
        userId: command.userId,
        conversationId: command.conversationId,
        duplicate: false
      }),
      Effect.catchTags({
        DuplicateUserMessage: (duplicate) => Effect.succeed({ ...duplicate.original, duplicate: true }),
        DuplicateEventId: () => originalOf(store, command)
      }),
      Effect.catchTags({
        ConversationNotStarted: (error) => Effect.die(error),
        UnknownBotMessage: (error) => Effect.die(error),
        NotDeadLettered: (error) => Effect.die(error)
      })
    )

const decodeReceived = Schema.decodeUnknownOption(ConversationEvents.UserMessageReceived)

const originalOf = (
  store: EventStore.EventStore["Service"],
  command: ConversationCommands.ReceiveUserMessage
): Effect.Effect<ReceivedMessage, ConversationCommands.MessageIdReused | ConversationUnavailable> =>
  store.readEvents([command.messageId]).pipe(
    Effect.mapError(unavailable),
    Effect.flatMap(
      (
        found
      ): Effect.Effect<ReceivedMessage, ConversationCommands.MessageIdReused | ConversationUnavailable> => {
        const recorded = found[0]
        const original = decodeReceived({ ...(recorded?.data as object), _tag: recorded?.type })
        if (recorded === undefined || original._tag === "None") {
          return Effect.fail(
            new ConversationUnavailable({ message: "the original message could not be read" })
          )
        }
        if (original.value.fingerprint !== command.fingerprint) {
          return Effect.fail(
            new ConversationCommands.MessageIdReused({ externalMessageId: command.externalMessageId })
          )
        }
        return Effect.succeed<ReceivedMessage>({
          messageId: original.value.messageId,
          userId: original.value.userId,
          conversationId: recorded.streamId.slice("conversation-".length) as Ids.ConversationId,
          duplicate: true
        })
      }
    )
  )
