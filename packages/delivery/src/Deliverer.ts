import type { BotMessage } from "@messaging-api/domain/Conversation"
import type { AttemptOutcome } from "@messaging-api/domain/ConversationCommands"
import { EndpointHealth } from "@messaging-api/domain/EndpointHealth"
import type { ConversationId } from "@messaging-api/domain/Ids"
import { type Installation, signingSecrets } from "@messaging-api/domain/Installation"
import { ofMillis } from "@messaging-api/domain/Instant"
import { hotSpan } from "@messaging-api/domain/Tracing"
import { Clock, Context, Duration, Effect, Layer, Option, Result, Schema } from "effect"
import * as DeliveryPolicy from "./DeliveryPolicy.ts"
import { DeliverySettings } from "./DeliverySettings.ts"
import { jsonBody } from "./JsonBody.ts"
import { WebhookClient } from "./WebhookClient.ts"

/**
 * One delivery attempt of one bot message: the contract's body, signed, POSTed to the
 * installation's response endpoint; the answer classified into the outcome the conversation
 * records (delivered, retry at a time, or dead letter). It never fails: every attempt is an event.
 * Each outcome also tells the endpoint's health (`EndpointHealth`): a failure that finds the
 * endpoint paused is held (due again at once, so it goes first when the endpoint is resumed)
 * instead of moving along the retry schedule or dead-lettering it when used up.
 */

/** The body of every delivery, exactly these fields (the `botpress*` names are kept for compatibility). */
export const OutboundMessage = Schema.Struct({
  type: Schema.String,
  payload: Schema.Json,
  /** The caller's conversation id. */
  conversationId: Schema.String,
  botpressUserId: Schema.String,
  botpressMessageId: Schema.String,
  botpressConversationId: Schema.String
})
export type OutboundMessage = typeof OutboundMessage.Type

const encodeBody = jsonBody(OutboundMessage)

export interface DeliveryTarget {
  readonly installation: Installation
  readonly conversationId: ConversationId
  readonly externalConversationId: string
  readonly message: BotMessage
}

export interface AttemptReport {
  readonly outcome: AttemptOutcome
  readonly durationMs: number
  /** When the attempt ended (ISO-8601). */
  readonly at: string
}

export const bodyFor = (target: DeliveryTarget): string =>
  encodeBody({
    type: target.message.type,
    payload: target.message.payload as Schema.Json,
    conversationId: target.externalConversationId,
    botpressUserId: target.message.userId ?? "",
    botpressMessageId: target.message.messageId,
    botpressConversationId: target.conversationId
  })

export class Deliverer extends Context.Service<
  Deliverer,
  {
    attempt(target: DeliveryTarget): Effect.Effect<AttemptReport>
  }
>()("@messaging-api/delivery/Deliverer") {
  static readonly layer = Layer.effect(
    Deliverer,
    Effect.gen(function* () {
      const client = yield* WebhookClient
      const settings = yield* DeliverySettings
      const health = yield* EndpointHealth
      const installationId = (target: DeliveryTarget) => target.installation.id

      /** Health is bookkeeping: if the database cannot record it, the attempt is still recorded. */
      const unrecorded = (error: unknown) =>
        Effect.logWarning("could not record the endpoint's health", error).pipe(Effect.as(undefined))

      const attempt = Effect.fnUntraced(function* (target: DeliveryTarget) {
        yield* Effect.annotateCurrentSpan({
          messageId: target.message.messageId,
          attempt: target.message.attempts + 1
        })
        const started = yield* Clock.currentTimeMillis
        const responseUrl = target.installation.responseUrl
        // A pull-only conversation records its messages as not delivered, so none reaches here;
        // should one, it is not sent anywhere.
        if (responseUrl === null) {
          return {
            outcome: {
              _tag: "DeadLetter",
              status: null,
              reason: "the installation is pull-only (no responseUrl)"
            },
            durationMs: 0,
            at: ofMillis(started)
          } satisfies AttemptReport
        }
        const result = yield* Effect.result(
          client.post({
            url: responseUrl,
            secrets: signingSecrets(target.installation, started),
            id: target.message.messageId,
            body: bodyFor(target)
          })
        )
        const ended = yield* Clock.currentTimeMillis
        const endedAt = ofMillis(ended)
        const report = (outcome: AttemptOutcome): AttemptReport => ({
          outcome,
          durationMs: ended - started,
          at: endedAt
        })
        const failure = Result.isFailure(result)
          ? DeliveryPolicy.classifyRequestError(result.failure)
          : DeliveryPolicy.classifyStatus(result.success.status, result.success.headers, ended)
        if (failure === undefined) {
          yield* health.succeeded(installationId(target)).pipe(Effect.catch(unrecorded))
          return report({ _tag: "Delivered", status: Result.isSuccess(result) ? result.success.status : 200 })
        }
        const endpoint = yield* health
          .failed(installationId(target), endedAt, failure.error, settings.endpointPauseAfter)
          .pipe(Effect.catch(unrecorded))
        if (endpoint?.status === "paused" && failure._tag === "TransientFailure") {
          return report({
            _tag: "Retry",
            status: failure.status,
            error: failure.error,
            nextAttemptAt: endedAt
          })
        }
        const wait = yield* DeliveryPolicy.nextRetry(
          target.installation.retrySchedule,
          target.message.attempts,
          failure,
          settings.maxRetryAfter
        )
        if (Option.isSome(wait)) {
          return report({
            _tag: "Retry",
            status: failure.status,
            error: failure.error,
            nextAttemptAt: ofMillis(ended + Duration.toMillis(wait.value))
          })
        }
        return report({
          _tag: "DeadLetter",
          status: failure.status,
          reason:
            failure._tag === "PermanentFailure"
              ? failure.error
              : `${failure.error} (retry schedule used up after ${target.message.attempts + 1} attempts)`
        })
      }, hotSpan("Deliverer.attempt"))

      return Deliverer.of({ attempt })
    })
  )
}
