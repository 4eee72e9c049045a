import {
  type Conversation,
  ConversationCommands,
  ConversationSnapshots,
  type ConversationStream,
  DecisionState,
  EndpointHealth,
  EventStore,
  Ids,
  Installations,
  MessagePayload
} from "@messaging-api/domain"
import type { Installation } from "@messaging-api/domain/Installation"
import * as Metrics from "@messaging-api/domain/Metrics"
import { hotSpan } from "@messaging-api/domain/Tracing"
import { Clock, Deferred, Duration, Effect, Exit, Option, Result, Semaphore, Stream, Tracer } from "effect"
import { Bot, BotError } from "./Bot.ts"
import type { BotReply } from "./BotTurn.ts"
import {
  type CommandError,
  type CommandResult,
  type ConversationUnavailable,
  type StateCache,
  unavailable,
  write
} from "./ConversationWriter.ts"
import { Deliverer } from "./Deliverer.ts"
import * as DeliveryPolicy from "./DeliveryPolicy.ts"
import { DeliverySettings } from "./DeliverySettings.ts"
import { Draining } from "./Draining.ts"
import { WorkIndex } from "./WorkIndex.ts"

/**
 * One live conversation: its folded state in memory, its commands one at a time, and its work
 * loop. The loop runs the oldest open bot turn, then delivers the head of the outbox, one attempt
 * at a time, each outcome recorded as an event before the next step; it sleeps until the next
 * retry is due, and ends when nothing is due within `passivateAfter` (after writing down in
 * `conversation_work` when to look again), so an idle conversation leaves memory.
 * Commands and the loop's own writes take the same lock, so the loop's attempt in flight never
 * holds up an inbound message: only the append is serialised, not the HTTP call.
 * While the installation's endpoint is paused, a delivery that comes due is held: the conversation
 * records `DeliveriesPaused` once and settles (the schedule leaves paused installations alone);
 * once the endpoint is resumed it records `DeliveriesResumed` and delivers the held messages in order.
 *
 * Tracing: the loop runs in a fiber of its own, so each piece of work is put back into the trace
 * of what caused it. The span a command arrives under (the webhook request's, carried by the
 * cluster with the entity message) becomes the parent of the bot turn it opens, and the bot turn's
 * span the parent of every delivery attempt of its replies (a message posted by the bot: the
 * span of that request). These origins are kept while the actor lives; work resumed after a
 * restart starts traces of its own.
 */

export interface ConversationActor {
  execute(command: ConversationCommands.ConversationCommand): Effect.Effect<CommandResult, CommandError>
  /** Runs the work loop unless it is already running; resolves when the loop ends. */
  readonly run: Effect.Effect<void>
  /** The state the actor holds (read from the log when it holds none), between commands. */
  readonly inspect: Effect.Effect<ConversationStream.LoadedDecisionState, ConversationUnavailable>
}

/** What the loop does next. */
export type Work =
  | { readonly _tag: "Turn"; readonly turn: DecisionState.OpenTurn }
  | { readonly _tag: "Deliver"; readonly message: Conversation.BotMessage }
  /** A delivery is due but the endpoint is paused, and the conversation has not recorded it yet. */
  | { readonly _tag: "Pause" }
  /** A delivery is due but held (the pause is recorded); `until`: when a bot turn is due, if one is. */
  | { readonly _tag: "Held"; readonly until: number | null }
  /** The conversation recorded a pause and its endpoint is no longer paused. */
  | { readonly _tag: "Resume" }
  | { readonly _tag: "Wait"; readonly until: number }
  | { readonly _tag: "Idle" }

/**
 * Bot turns first, oldest first; then the outbox head (held while the endpoint is paused);
 * otherwise the earliest retry time. A recorded pause whose endpoint is no longer paused ends first.
 */
export const nextWork = (state: DecisionState.DecisionState, now: number, endpointPaused = false): Work => {
  if (state.deliveriesPausedAt !== null && !endpointPaused) return { _tag: "Resume" }
  let until = Number.POSITIVE_INFINITY
  const turn = state.openTurns[0]
  if (turn !== undefined) {
    const due = turn.retryAt === null ? now : Date.parse(turn.retryAt)
    if (due <= now) return { _tag: "Turn", turn }
    until = Math.min(until, due)
  }
  const message = DecisionState.nextDelivery(state)
  if (message !== undefined) {
    const due = message.nextAttemptAt === null ? now : Date.parse(message.nextAttemptAt)
    if (due <= now) {
      if (!endpointPaused) return { _tag: "Deliver", message }
      if (state.deliveriesPausedAt === null) return { _tag: "Pause" }
      return { _tag: "Held", until: Number.isFinite(until) ? until : null }
    }
    until = Math.min(until, due)
  }
  return Number.isFinite(until) ? { _tag: "Wait", until } : { _tag: "Idle" }
}

/** Bot message ids are derived from the turn, so a repeated completion names the same messages. */
export const replyIdFor = (userMessageId: Ids.MessageId, index: number): Ids.MessageId =>
  Ids.uuidV5("bot-reply", userMessageId, String(index)) as Ids.MessageId

const INSTALLATION_TTL_MS = 5_000

const outcomeName = {
  Delivered: "delivered",
  Retry: "retry",
  DeadLetter: "dead_letter"
} as const satisfies Record<ConversationCommands.AttemptOutcome["_tag"], Metrics.DeliveryOutcome>

const iso = (millis: number) => new Date(millis).toISOString()

export const make = Effect.fnUntraced(function* (conversationId: Ids.ConversationId) {
  const store = yield* EventStore.EventStore
  const snapshots = yield* ConversationSnapshots.ConversationSnapshots
  const installations = yield* Installations.Installations
  const bot = yield* Bot
  const deliverer = yield* Deliverer
  const index = yield* WorkIndex
  const draining = yield* Draining
  const settings = yield* DeliverySettings
  const health = yield* EndpointHealth.EndpointHealth

  // The installation is read at most every few seconds per actor, not once per attempt.
  let installationCache: { readonly value: Installation | undefined; readonly until: number } | undefined
  const installationOf = (id: Ids.InstallationId) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (installationCache !== undefined && installationCache.until > now) return installationCache.value
      const value = yield* installations
        .get(id)
        .pipe(Effect.catchTag("InstallationNotFound", () => Effect.succeed(undefined)))
      installationCache = { value, until: now + INSTALLATION_TTL_MS }
      return value
    })

  const lock = Semaphore.makeUnsafe(1)
  const cache: StateCache = { current: undefined }

  // The state comes from the latest snapshot and the events after it; once the actor is
  // SNAPSHOT_EVERY events past that snapshot, it writes a new one when its loop settles.
  let snapshotVersion = 0
  const load = (id: Ids.ConversationId) =>
    snapshots.load(id).pipe(
      Effect.tap((loaded) =>
        Effect.sync(() => {
          snapshotVersion = loaded.snapshotVersion
        })
      )
    )
  const snapshotIfDue = (loaded: ConversationStream.LoadedDecisionState) =>
    loaded.version - snapshotVersion < ConversationSnapshots.SNAPSHOT_EVERY
      ? Effect.void
      : snapshots.save(conversationId, loaded).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              snapshotVersion = loaded.version
            })
          ),
          Effect.catch((error) =>
            Effect.logWarning("could not save a conversation snapshot", error).pipe(
              Effect.annotateLogs({ conversationId })
            )
          )
        )
  // Every committed change bumps `changes` and wakes a sleeping loop.
  let changes = 0
  let wake = Deferred.makeUnsafe<void>()
  let running = false

  const changed = () => {
    changes++
    const previous = wake
    wake = Deferred.makeUnsafe<void>()
    Deferred.doneUnsafe(previous, Effect.void)
  }

  /** The span each open bot turn (by user message id) and each pending bot message (by id) continues. */
  const origins = new Map<string, Tracer.AnySpan>()
  const remember = (result: CommandResult, origin: Option.Option<Tracer.AnySpan>) => {
    for (const event of result.events) {
      switch (event._tag) {
        case "UserMessageReceived":
        case "BotMessageEmitted":
          if (Option.isSome(origin)) origins.set(event.messageId, origin.value)
          break
        case "BotTurnCompleted":
          origins.delete(event.userMessageId)
          break
        case "BotTurnFailed":
          if (event.retryAt === null) origins.delete(event.userMessageId)
          break
        case "MessageDelivered":
        case "MessageDeadLettered":
          origins.delete(event.messageId)
          break
      }
    }
  }
  /** Runs `effect` (a span of the loop) in the trace of the work it continues, if known. */
  const continuing = <A, E, R>(id: string, effect: Effect.Effect<A, E, R>) => {
    const origin = origins.get(id)
    return origin === undefined ? effect : Effect.withParentSpan(effect, origin)
  }

  const execute = (command: ConversationCommands.ConversationCommand) =>
    Effect.flatMap(Effect.serviceOption(Tracer.ParentSpan), (origin) =>
      lock.withPermit(write(store, conversationId, command, cache, load)).pipe(
        Effect.tap((result) =>
          result.events.length > 0
            ? Effect.sync(() => {
                remember(result, origin)
                changed()
              })
            : Effect.void
        )
      )
    )

  const current = lock.withPermit(
    Effect.gen(function* () {
      if (cache.current === undefined) cache.current = yield* load(conversationId)
      return cache.current
    })
  )

  const forget = lock.withPermit(
    Effect.sync(() => {
      cache.current = undefined
    })
  )

  const runTurn = Effect.fnUntraced(function* (
    state: DecisionState.DecisionState,
    turn: DecisionState.OpenTurn
  ) {
    const started = state.started
    const message = turn.message
    const at = iso(yield* Clock.currentTimeMillis)
    if (started === null) {
      return yield* execute(
        new ConversationCommands.FailBotTurn({
          userMessageId: turn.userMessageId,
          reason: "the conversation of this turn has not started",
          retryAt: null,
          at
        })
      )
    }
    const installation = yield* installationOf(started.installationId)
    if (installation === undefined) {
      return yield* execute(
        new ConversationCommands.FailBotTurn({
          userMessageId: turn.userMessageId,
          reason: "the installation no longer exists",
          retryAt: null,
          at
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
              Effect.mapError(
                (invalid) =>
                  new BotError({
                    reason: `the bot sent an invalid ${invalid.type} payload: ${invalid.message}`,
                    retryable: false
                  })
              )
            )
          ).pipe(Effect.as(collected))
        ),
        Effect.timeoutOrElse({
          duration: limit,
          orElse: () =>
            Effect.fail(
              new BotError({ reason: `no answer within ${Duration.format(limit)}`, retryable: true })
            )
        }),
        Effect.catchDefect((defect) =>
          Effect.fail(new BotError({ reason: `the bot crashed: ${String(defect)}`, retryable: true }))
        ),
        Effect.result
      )
    const doneMillis = yield* Clock.currentTimeMillis
    const done = iso(doneMillis)
    yield* Metrics.botTurn(
      Result.isSuccess(replies) ? "completed" : "failed",
      (doneMillis - turnStarted) / 1000
    )
    if (Result.isSuccess(replies)) {
      return yield* execute(
        new ConversationCommands.CompleteBotTurn({
          userMessageId: turn.userMessageId,
          messages: replies.success.map((reply, i) => ({
            messageId: replyIdFor(turn.userMessageId, i),
            type: reply.type,
            payload: reply.payload
          })),
          at: done
        })
      )
    }
    const failure = replies.failure
    const wait = yield* DeliveryPolicy.nextRetry(
      settings.botTurnRetrySchedule,
      turn.failures,
      failure.retryable
        ? new DeliveryPolicy.TransientFailure({ status: null, error: failure.reason, retryAfterMs: null })
        : new DeliveryPolicy.PermanentFailure({ status: null, error: failure.reason }),
      settings.maxRetryAfter
    )
    yield* Effect.logWarning("bot turn failed").pipe(
      Effect.annotateLogs({ conversationId, userMessageId: turn.userMessageId, reason: failure.reason })
    )
    return yield* execute(
      new ConversationCommands.FailBotTurn({
        userMessageId: turn.userMessageId,
        reason: failure.reason,
        retryAt: Option.match(wait, {
          onNone: () => null,
          onSome: (delay) => iso(Date.parse(done) + Duration.toMillis(delay))
        }),
        at: done
      })
    )
  }, hotSpan("ConversationActor.runTurn"))

  const deliver = Effect.fnUntraced(function* (
    state: DecisionState.DecisionState,
    message: Conversation.BotMessage
  ) {
    const started = state.started
    const installation = started === null ? undefined : yield* installationOf(started.installationId)
    if (started === null || installation === undefined) {
      return yield* execute(
        new ConversationCommands.RecordDeliveryAttempt({
          messageId: message.messageId,
          outcome: { _tag: "DeadLetter", status: null, reason: "the installation no longer exists" },
          durationMs: 0,
          at: iso(yield* Clock.currentTimeMillis)
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
    return yield* execute(
      new ConversationCommands.RecordDeliveryAttempt({
        messageId: message.messageId,
        outcome: report.outcome,
        durationMs: report.durationMs,
        at: report.at
      })
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

  const pause = (endpoint: EndpointHealth.EndpointStatus) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      execute(
        new ConversationCommands.PauseDeliveries({
          failingSince: endpoint.failingSince ?? iso(now),
          endpointPausedAt: endpoint.pausedAt ?? iso(now),
          lastError: endpoint.lastError ?? null,
          at: iso(now)
        })
      )
    )

  const resume = Effect.flatMap(Clock.currentTimeMillis, (now) =>
    execute(new ConversationCommands.ResumeDeliveries({ at: iso(now) }))
  )

  /** Ends the loop unless something changed since `seen`; atomic with `run`'s check. */
  const release = (seen: number) =>
    Effect.sync(() => {
      if (changes !== seen) return false
      running = false
      return true
    })

  const passivateAfter = Duration.toMillis(settings.passivateAfter)

  /** Writes down what the loop knows (nothing to do, or when to look again); false when its state is stale. */
  const settle = (loaded: ConversationStream.LoadedDecisionState, dueAt: string | null) => {
    const started = loaded.state.started
    return snapshotIfDue(loaded).pipe(
      Effect.andThen(
        index.settle(
          conversationId,
          loaded.version,
          started?.installationId ?? null,
          started === null ? null : dueAt
        )
      )
    )
  }

  const loop = Effect.gen(function* () {
    while (!draining.isDraining()) {
      const seen = changes
      const woken = wake
      const loaded = yield* current
      const endpoint = yield* endpointOf(loaded.state)
      const now = yield* Clock.currentTimeMillis
      const work = nextWork(loaded.state, now, endpoint.status === "paused")
      switch (work._tag) {
        case "Turn":
          yield* continuing(work.turn.userMessageId, runTurn(loaded.state, work.turn))
          break
        case "Deliver":
          yield* continuing(work.message.messageId, deliver(loaded.state, work.message))
          break
        case "Pause":
          yield* pause(endpoint)
          break
        case "Resume":
          yield* resume
          break
        case "Held":
          // Sleep for a bot turn due soon; otherwise write down "due now", which the schedule
          // leaves alone until the endpoint is resumed.
          if (work.until !== null && work.until - now <= passivateAfter) {
            yield* Effect.sleep(work.until - now).pipe(
              Effect.raceFirst(Deferred.await(woken)),
              Effect.raceFirst(draining.started)
            )
          } else if (!(yield* settle(loaded, iso(now)))) {
            yield* forget
          } else if (yield* release(seen)) {
            return
          }
          break
        case "Wait":
          if (work.until - now <= passivateAfter) {
            yield* Effect.sleep(work.until - now).pipe(
              Effect.raceFirst(Deferred.await(woken)),
              Effect.raceFirst(draining.started)
            )
          } else if (!(yield* settle(loaded, iso(work.until)))) {
            yield* forget
          } else if (yield* release(seen)) {
            return
          }
          break
        case "Idle":
          if (!(yield* settle(loaded, null))) {
            yield* forget
          } else if (yield* release(seen)) {
            return
          }
          break
      }
    }
    running = false
  })

  const run = Effect.suspend(() => {
    if (running) return Effect.void
    running = true
    return loop.pipe(
      Effect.onExit((exit) =>
        Exit.isFailure(exit)
          ? Effect.sync(() => {
              running = false
            })
          : Effect.void
      ),
      Effect.catchCause((cause) =>
        Effect.logWarning("conversation work loop stopped; the schedule will resume it", cause).pipe(
          Effect.annotateLogs({ conversationId })
        )
      ),
      Effect.withSpan(
        "ConversationActor.run",
        { attributes: { conversationId } },
        { captureStackTrace: false }
      )
    )
  })

  const actor: ConversationActor = { execute, run, inspect: Effect.mapError(current, unavailable) }
  return actor
})
