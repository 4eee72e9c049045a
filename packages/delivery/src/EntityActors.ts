import type { ConversationCommands, Ids } from "@messaging-api/domain"
import { ConversationUnavailable } from "@messaging-api/domain/Conversations"
import * as Metrics from "@messaging-api/domain/Metrics"
import { Context, Effect, Layer, Metric, Scope } from "effect"
import { Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { Actors } from "./Actors.ts"
import * as ConversationActor from "./ConversationActor.ts"
import { Conversation } from "./ConversationEntity.ts"
import type { CommandError, CommandResult } from "./ConversationWriter.ts"
import { DeliverySettings } from "./DeliverySettings.ts"
import * as LeanContext from "./LeanContext.ts"
import * as WorkLoops from "./WorkLoops.ts"

/**
 * The conversation actors of a runner of a cluster: effect/cluster's conversation entity
 * (`ConversationEntity`) on the runner that owns each conversation's shard, its handlers the
 * actor's (`ConversationActor`). Commands reach a conversation's actor through the cluster from
 * any runner; a command that changed something starts the conversation's work loop on its owner,
 * so 200 for a message on any process means its bot turn and deliveries run there. An entity
 * with nothing to do for `passivateAfter` is passivated by the cluster (not while its loop runs).
 */

const unreachable = () =>
  Effect.fail(new ConversationUnavailable({ message: "the conversation could not be reached" }))

/** `Actors` through the cluster, and the `WorkLoops` this runner's entities start. Closing it drains the loops. */
export const layer = Layer.effectContext(
  Effect.gen(function* () {
    const settings = yield* DeliverySettings
    const clientFor = yield* Conversation.client
    const { loops, drain } = yield* WorkLoops.make((conversationId) => clientFor(conversationId).Run())
    const core = yield* ConversationActor.make(loops)

    // The live-conversations gauge: up on activation, down when the entity's scope closes, through
    // one finalizer shared by every conversation (`acquireRelease` would keep a closure and its
    // context per conversation).
    const counted = Metric.modify(Metrics.liveConversations, 1)
    const uncounted = Metric.modify(Metrics.liveConversations, -1)
    const onClose = () => uncounted

    // What the cluster runs when it activates a conversation's entity: its `Actor` and three small
    // handler closures over it.
    const activate = Effect.gen(function* () {
      const address = yield* Entity.CurrentAddress
      const scope = yield* Scope.Scope
      // Entity ids are our decoded (lower-case) uuids: one conversation, one entity (and one shard).
      const actor = new ConversationActor.Actor(address.entityId as string as Ids.ConversationId)
      yield* Effect.uninterruptible(Effect.andThen(counted, Scope.addFinalizerExit(scope, onClose)))
      return Conversation.of({
        Execute: ({ payload }) => core.execute(actor, payload.command),
        Run: () => Rpc.fork(core.run(actor)),
        Inspect: () => core.inspect(actor)
      })
    })

    // Registered in a lean context: the cluster copies it into every live entity (`LeanContext`).
    // So the handlers take our services (and read our `Context.Reference`s) when
    // `ConversationActor.make` builds them: read inside a handler, one of ours would be missing or
    // at its default.
    const entity = yield* Layer.build(
      LeanContext.build(Conversation.toLayer(activate, { maxIdleTime: settings.passivateAfter }))
    )
    // Added after the entity, so on close the loops drain before the entity is stopped.
    yield* Effect.addFinalizer(() => drain)

    const execute = <C extends ConversationCommands.ConversationCommand>(
      conversationId: Ids.ConversationId,
      command: C
    ): Effect.Effect<CommandResult, CommandError<C>> =>
      // The entity's wire schema names every command's errors; its actor fails with C's only.
      clientFor(conversationId)
        .Execute({ command })
        .pipe(
          Effect.catchTags({
            MailboxFull: () =>
              Effect.fail(new ConversationUnavailable({ message: "the conversation is busy" })),
            AlreadyProcessingMessage: () =>
              Effect.fail(new ConversationUnavailable({ message: "the command is already being processed" })),
            PersistenceError: unreachable,
            EntityNotAssignedToRunner: unreachable
          })
        ) as Effect.Effect<CommandResult, CommandError<C>>

    const state = (conversationId: Ids.ConversationId) =>
      clientFor(conversationId)
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

    return Context.add(entity, WorkLoops.WorkLoops, loops).pipe(
      Context.add(Actors, Actors.of({ execute, state }))
    )
  })
)
