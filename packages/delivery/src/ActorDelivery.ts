import {
  type Conversation,
  ConversationCommands,
  type DecisionState,
  EndpointHealth,
  type Ids,
  Installations,
  Instant
} from "@messaging-api/domain"
import * as Metrics from "@messaging-api/domain/Metrics"
import { hotSpan } from "@messaging-api/domain/Tracing"
import { Clock, Effect } from "effect"
import type { Execute } from "./ConversationActor.ts"
import { Deliverer } from "./Deliverer.ts"

/**
 * A conversation actor's deliveries: one attempt at the outbox head, recorded through the actor's
 * own command path (`RecordDeliveryAttempt`), and the conversation's side of an endpoint pause
 * (`PauseDeliveries` when a delivery comes due while the endpoint is paused, `ResumeDeliveries`
 * once it no longer is).
 */

const outcomeName = {
  Delivered: "delivered",
  Retry: "retry",
  DeadLetter: "dead_letter"
} as const satisfies Record<ConversationCommands.AttemptOutcome["_tag"], Metrics.DeliveryOutcome>

/** Built once per process: each step names its conversation and the actor's command path. */
export const make = Effect.fnUntraced(function* () {
  const installations = yield* Installations.Installations
  const deliverer = yield* Deliverer
  const health = yield* EndpointHealth.EndpointHealth

  const deliver = Effect.fnUntraced(function* (
    conversationId: Ids.ConversationId,
    execute: Execute,
    state: DecisionState.DecisionState,
    message: Conversation.BotMessage
  ) {
    const started = state.started
    // From the installations' cache: in memory while the conversation is busy.
    const installation =
      started === null
        ? undefined
        : yield* installations
            .get(started.installationId)
            .pipe(Effect.catchTag("InstallationNotFound", () => Effect.succeed(undefined)))
    if (started === null || installation === undefined) {
      return yield* execute(
        new ConversationCommands.RecordDeliveryAttempt({
          messageId: message.messageId,
          outcome: { _tag: "DeadLetter", status: null, reason: "the installation no longer exists" },
          durationMs: 0,
          at: Instant.ofMillis(yield* Clock.currentTimeMillis)
        })
      )
    }
    const report = yield* deliverer.attempt({
      installation,
      conversationId,
      externalConversationId: started.externalConversationId,
      message
    })
    yield* Metrics.deliveryAttempt(outcomeName[report.outcome._tag], report.durationMs / 1000)
    // The deliverer's own report of the message it was given, times from the clock: nothing to check.
    return yield* execute(
      new ConversationCommands.RecordDeliveryAttempt(
        {
          messageId: message.messageId,
          outcome: report.outcome,
          durationMs: report.durationMs,
          at: report.at
        },
        { disableChecks: true }
      )
    )
  }, hotSpan("ConversationActor.deliver"))

  /**
   * The endpoint's health, asked only when it matters: a delivery waiting, or a pause recorded.
   * When it cannot be read, deliveries go on (the attempt's own append needs the database anyway).
   */
  const endpointOf = (state: DecisionState.DecisionState) =>
    state.started === null || (state.outbox.length === 0 && state.deliveriesPausedAt === null)
      ? Effect.succeed(EndpointHealth.healthy)
      : health
          .current(state.started.installationId)
          .pipe(
            Effect.catch((error) =>
              Effect.logWarning("could not read the endpoint's health", error).pipe(
                Effect.as(EndpointHealth.healthy)
              )
            )
          )

  const pause = (execute: Execute, endpoint: EndpointHealth.EndpointStatus) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const at = Instant.ofMillis(now)
      return execute(
        new ConversationCommands.PauseDeliveries({
          failingSince: endpoint.failingSince ?? at,
          endpointPausedAt: endpoint.pausedAt ?? at,
          lastError: endpoint.lastError ?? null,
          at
        })
      )
    })

  const resume = (execute: Execute) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      execute(new ConversationCommands.ResumeDeliveries({ at: Instant.ofMillis(now) }))
    )

  return { deliver, endpointOf, pause, resume } as const
})
