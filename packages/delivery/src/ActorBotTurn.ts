import { ConversationCommands, type DecisionState, Ids, Installations, Instant } from "@messaging-api/domain"
import { withDeadline } from "@messaging-api/domain/Deadline"
import * as MessagePayload from "@messaging-api/domain/MessagePayload"
import * as Metrics from "@messaging-api/domain/Metrics"
import { hotSpan } from "@messaging-api/domain/Tracing"
import { Clock, Duration, Effect, Option, Result, Stream } from "effect"
import { Bot } from "./Bot.ts"
import type { BotReply } from "./BotTurn.ts"
import type { Execute } from "./ConversationActor.ts"
import * as DeliveryPolicy from "./DeliveryPolicy.ts"
import { DeliverySettings } from "./DeliverySettings.ts"

/**
 * One bot turn of a conversation actor: the bot answers the turn's user message within its time
 * limit, and the outcome is recorded through the actor's own command path: `CompleteBotTurn` with
 * the replies (ids derived from the turn), or `FailBotTurn` with when to try again along the
 * bot-turn schedule (null: given up).
 */

/** Bot message ids are derived from the turn, so a repeated completion names the same messages. */
export const replyIdFor = (userMessageId: Ids.MessageId, index: number): Ids.MessageId =>
  Ids.uuidV5("bot-reply", userMessageId, String(index)) as Ids.MessageId

/** Built once per process: a turn names its conversation and the actor's command path. */
export const make = Effect.fnUntraced(function* () {
  const installations = yield* Installations.Installations
  const bot = yield* Bot
  const settings = yield* DeliverySettings
  /** The time of a turn that fails before the bot is asked (a turn that runs takes its end's). */
  const now = Effect.map(Clock.currentTimeMillis, Instant.ofMillis)

  return Effect.fnUntraced(function* (
    conversationId: Ids.ConversationId,
    execute: Execute,
    state: DecisionState.DecisionState,
    turn: DecisionState.OpenTurn
  ) {
    const started = state.started
    const message = turn.message
    if (started === null) {
      return yield* execute(
        new ConversationCommands.FailBotTurn({
          userMessageId: turn.userMessageId,
          reason: "the conversation of this turn has not started",
          retryAt: null,
          at: yield* now
        })
      )
    }
    // From the installations' cache: in memory while the conversation is busy.
    const installation = yield* installations
      .get(started.installationId)
      .pipe(Effect.catchTag("InstallationNotFound", () => Effect.succeed(undefined)))
    if (installation === undefined) {
      return yield* execute(
        new ConversationCommands.FailBotTurn({
          userMessageId: turn.userMessageId,
          reason: "the installation no longer exists",
          retryAt: null,
          at: yield* now
        })
      )
    }
    const config = installation.bot
    const limit = Duration.sum(
      config._tag !== "echo" && config.timeoutMs !== undefined
        ? Duration.millis(config.timeoutMs)
        : settings.botTimeout,
      Duration.seconds(1)
    )
    const turnStarted = yield* Clock.currentTimeMillis
    const replies = yield* bot
      .respond({
        installation,
        conversationId,
        externalConversationId: started.externalConversationId,
        message
      })
      .pipe(
        Stream.runCollect,
        Effect.flatMap((collected: ReadonlyArray<BotReply>) =>
          Effect.forEach(collected, (reply) =>
            MessagePayload.validate(reply.type, reply.payload).pipe(
              Effect.mapError((invalid) =>
                DeliveryPolicy.permanentFailure(
                  `the bot sent an invalid ${invalid.type} payload: ${invalid.message}`
                )
              )
            )
          ).pipe(Effect.as(collected))
        ),
        (turn) =>
          withDeadline(turn, Duration.toMillis(limit), () =>
            DeliveryPolicy.transientFailure(`no answer within ${Duration.format(limit)}`)
          ),
        Effect.catchDefect((defect) =>
          Effect.fail(DeliveryPolicy.transientFailure(`the bot crashed: ${String(defect)}`))
        ),
        Effect.result
      )
    const doneMillis = yield* Clock.currentTimeMillis
    const done = Instant.ofMillis(doneMillis)
    yield* Metrics.botTurn(
      Result.isSuccess(replies) ? "completed" : "failed",
      (doneMillis - turnStarted) / 1000
    )
    if (Result.isSuccess(replies)) {
      // Checked already: the payloads just above, the ids derived from the turn's, the time the clock's.
      return yield* execute(
        new ConversationCommands.CompleteBotTurn(
          {
            userMessageId: turn.userMessageId,
            messages: replies.success.map((reply, i) => ({
              messageId: replyIdFor(turn.userMessageId, i),
              type: reply.type,
              payload: reply.payload
            })),
            at: done
          },
          { disableChecks: true }
        )
      )
    }
    const failure = replies.failure
    // A user is waiting on the turn: it follows the bot-turn schedule, not the bot's Retry-After.
    const wait = yield* DeliveryPolicy.nextRetry(
      settings.botTurnRetrySchedule,
      turn.failures,
      failure._tag === "TransientFailure" ? DeliveryPolicy.transientFailure(failure.error) : failure,
      settings.maxRetryAfter
    )
    yield* Effect.logWarning("bot turn failed").pipe(
      Effect.annotateLogs({ conversationId, userMessageId: turn.userMessageId, reason: failure.error })
    )
    return yield* execute(
      new ConversationCommands.FailBotTurn({
        userMessageId: turn.userMessageId,
        reason: failure.error,
        retryAt: Option.match(wait, {
          onNone: () => null,
          onSome: (delay) => Instant.ofMillis(doneMillis + Duration.toMillis(delay))
        }),
        at: done
      })
    )
  }, hotSpan("ConversationActor.runTurn"))
})
