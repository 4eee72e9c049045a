import {
  ConversationCommands,
  ConversationDecider,
  ConversationStream,
  DecisionState,
  type EventStore,
  Ids
} from "@messaging-api/domain"
import {
  type CommandError,
  type CommandResult,
  ConversationUnavailable
} from "@messaging-api/domain/Conversations"
import { hotSpan } from "@messaging-api/domain/Tracing"
import { Duration, Effect, Metric, Option, Result } from "effect"
import type { SqlError } from "effect/sql"

/**
 * How one command becomes events in a conversation's stream: decide on the folded state, append
 * at the version it was folded to, and when another writer got there first, reload and decide
 * again. The event store's expected-version check is the guard; nothing is appended twice.
 * A user message the log already holds (its event id is derived from (installation, messageId))
 * is answered from the original event, as the decider answers a repeat it remembers: this is the
 * idempotency across conversations and beyond the decision state's window.
 * The conversation actor and the front door without actors (`Conversations.layerDirect`) both
 * write through here; the actor keeps the folded state between commands, the front door folds it
 * afresh each time.
 */

// The port's types, for the writer's users inside this package.
export {
  type CommandError,
  type CommandResult,
  ConversationUnavailable
} from "@messaging-api/domain/Conversations"

/** The decision state a writer holds between commands; `undefined` means "read it from the log". */
export interface StateCache {
  current: ConversationStream.LoadedDecisionState | undefined
}

export const unavailable = (error: SqlError.SqlError | ConversationStream.EventDecodeError) =>
  new ConversationUnavailable({
    message: error._tag === "SqlError" ? "the event store is unavailable" : error.message
  })

/**
 * Appends refused because another writer got to the conversation first. With one writer per
 * conversation (its actor, on the runner that owns it) this stays at zero; a count that grows
 * means two processes wrote one conversation at once (the guard kept it correct).
 */
export const versionConflicts = Metric.counter("messaging_api_version_conflicts_total", {
  description: "Appends refused by the expected-version check (another writer appended first)",
  incremental: true
})

/**
 * The state of a conversation believed never started, assumed rather than read
 * (`KnownConversations`). Only an append acts on it, at version 0, which the event store refuses
 * if the stream has events; a decision that would not append is made again on the state read.
 */
export interface AssumedEmpty extends ConversationStream.LoadedDecisionState {
  readonly assumed: true
}
export const assumedEmpty: AssumedEmpty = { state: DecisionState.initialState, version: 0, assumed: true }

const isAssumed = (loaded: ConversationStream.LoadedDecisionState): loaded is AssumedEmpty =>
  "assumed" in loaded

/**
 * How a writer reads a conversation's decision state (from the start, or from a snapshot). It may
 * answer `assumedEmpty` for a conversation it believes never started, unless asked for the log's.
 */
export type LoadState = (
  conversationId: Ids.ConversationId,
  options?: { readonly fromLog: boolean }
) => Effect.Effect<
  ConversationStream.LoadedDecisionState,
  SqlError.SqlError | ConversationStream.EventDecodeError
>

const fromLog = { fromLog: true } as const

type Once<C extends ConversationCommands.ConversationCommand> = Effect.Effect<
  CommandResult,
  ConversationCommands.RejectionOf<C> | EventStore.AppendError | ConversationStream.EventDecodeError
>

const once = <C extends ConversationCommands.ConversationCommand>(
  store: EventStore.EventStore["Service"],
  conversationId: Ids.ConversationId,
  command: C,
  cache: StateCache,
  load: LoadState,
  readLog = false
): Once<C> =>
  Effect.gen(function* () {
    if (cache.current === undefined)
      cache.current = yield* load(conversationId, readLog ? fromLog : undefined)
    const loaded = cache.current
    const decision = ConversationDecider.decide(command, loaded.state)
    const assumed = isAssumed(loaded)
    if (assumed && (Result.isFailure(decision) || decision.success.length === 0)) {
      // Only an append checks an assumed state: an answer without one is given on the log's.
      cache.current = undefined
      return yield* once(store, conversationId, command, cache, load, true)
    }
    if (Result.isFailure(decision)) return yield* Effect.fail(decision.failure)
    const events = decision.success
    if (events.length === 0) return { events, version: loaded.version }
    // Whatever happens to the append, the cached state is only trusted again once it succeeds.
    cache.current = undefined
    const append = store.append(
      Ids.conversationStream(conversationId),
      loaded.version,
      ConversationStream.toNewEvents(events)
    )
    const appended = yield* assumed
      ? // The conversation had been started after all: not another writer, so no conflict to count.
        Effect.catchIf(append, isConflict, () => Effect.succeed(undefined))
      : append
    if (appended === undefined) return yield* once(store, conversationId, command, cache, load, true)
    cache.current = { state: DecisionState.fold(events, loaded.state), version: appended.version }
    return { events, version: appended.version }
  })

const isConflict = (error: { readonly _tag: string }): error is EventStore.WrongExpectedVersion =>
  error._tag === "WrongExpectedVersion"

const isStoreFailure = (error: {
  readonly _tag: string
}): error is SqlError.SqlError | ConversationStream.EventDecodeError =>
  error._tag === "SqlError" || error._tag === "UnknownEventType" || error._tag === "MalformedEvent"

type RepeatAnswer = CommandError<ConversationCommands.ReceiveUserMessage>

/**
 * The answer to a user message whose event id the log already holds: the decider's answer to a
 * repeat (the same body is a duplicate, another a reuse), naming the conversation the original
 * went to.
 */
const repeatOf = (
  store: EventStore.EventStore["Service"],
  command: ConversationCommands.ReceiveUserMessage
): Effect.Effect<never, RepeatAnswer> =>
  // A user message's event id is its message id (`ConversationStream.eventIdOf`).
  store.readEvents([command.messageId]).pipe(
    Effect.mapError(unavailable),
    Effect.flatMap((found): Effect.Effect<never, RepeatAnswer> => {
      const recorded = found[0]
      const original = recorded && ConversationStream.decodeRecorded(recorded)
      const conversationId = recorded && Ids.conversationOfStream(recorded.streamId)
      if (
        conversationId === undefined ||
        original === undefined ||
        Result.isFailure(original) ||
        original.success._tag !== "UserMessageReceived"
      ) {
        return Effect.fail(new ConversationUnavailable({ message: "the original message could not be read" }))
      }
      const rejection = ConversationDecider.repeated(command, original.success)
      return Effect.fail(
        rejection._tag === "MessageIdReused"
          ? rejection
          : new ConversationCommands.DuplicateUserMessage({
              original: { ...rejection.original, conversationId }
            })
      )
    })
  )

/** Another writer appended first: counted and logged, as each refused append is. */
const noteConflict = (
  conversationId: Ids.ConversationId,
  command: ConversationCommands.ConversationCommand
) =>
  Metric.update(versionConflicts, 1).pipe(
    Effect.andThen(
      Effect.logWarning("version conflict: another writer appended to this conversation first").pipe(
        Effect.annotateLogs({ conversationId, command: command._tag })
      )
    )
  )

/** Appends refused by the expected-version check are tried again this many times, 1 ms apart. */
const CONFLICT_RETRIES = 20

export const write = <C extends ConversationCommands.ConversationCommand>(
  store: EventStore.EventStore["Service"],
  conversationId: Ids.ConversationId,
  command: C,
  cache: StateCache = { current: undefined },
  load: LoadState = (id) => ConversationStream.loadDecisionState(store, id)
): Effect.Effect<CommandResult, CommandError<C>> => {
  // A conflict reloads and decides again; written as a catch rather than `Effect.retry`, so that
  // the command that meets no conflict (every one, with one writer per conversation) sets up no
  // retry schedule.
  const attempt = (retriesLeft: number): ReturnType<typeof once<C>> =>
    once(store, conversationId, command, cache, load).pipe(
      Effect.catchIf(isConflict, (conflict) =>
        noteConflict(conversationId, command).pipe(
          Effect.andThen(
            retriesLeft === 0
              ? Effect.fail(conflict)
              : Effect.andThen(Effect.sleep(Duration.millis(1)), attempt(retriesLeft - 1))
          )
        )
      )
    )
  return attempt(CONFLICT_RETRIES).pipe(
    Effect.catch(
      (error): Effect.Effect<never, CommandError<C>> =>
        isConflict(error)
          ? Effect.fail(
              new ConversationUnavailable({ message: "too many concurrent writers on one conversation" })
            )
          : isStoreFailure(error)
            ? Effect.fail(unavailable(error))
            : // `CommandError<C>` holds no `DuplicateEventId` for a user message: it is answered here.
              error._tag === "DuplicateEventId" && command._tag === "ReceiveUserMessage"
              ? (repeatOf(store, command) as Effect.Effect<never, CommandError<C>>)
              : Effect.fail(error as CommandError<C>)
    ),
    hotSpan("ConversationWriter.write", { attributes: { conversationId, command: command._tag } })
  )
}

/** The conversation a bot message belongs to, from its emission event (the event id is derived from the message id). */
export const conversationOfMessage = (
  store: EventStore.EventStore["Service"],
  messageId: Ids.MessageId
): Effect.Effect<Option.Option<Ids.ConversationId>, ConversationUnavailable> =>
  store.readEvents([ConversationStream.botMessageEventId(messageId)]).pipe(
    Effect.map((found) => Option.fromUndefinedOr(found[0] && Ids.conversationOfStream(found[0].streamId))),
    Effect.mapError(unavailable)
  )
