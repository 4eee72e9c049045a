import { EventStore, Ids, Projector, Timeline } from "@messaging-api/domain"
import { Console, Effect, Layer, Option, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { DatabaseWithConfig } from "../DatabaseLive.ts"
import { InvalidFlagValue } from "./InvalidFlagValue.ts"
import { jsonFlag } from "./JsonFlag.ts"
import * as TimelineText from "./TimelineText.ts"

/**
 * `messaging-api replay`: a conversation's timeline read from the event log and the state folded
 * from it (at a version or a time with --until), and `--rebuild-projections` to project the read
 * models again from the whole log.
 */

const ReplayLive = Projector.Projector.layer.pipe(
  Layer.provideMerge(EventStore.EventStore.layer),
  Layer.provideMerge(DatabaseWithConfig)
)

const encodeRecord = Schema.encodeSync(Schema.fromJsonString(TimelineText.TimelineRecord))
const decodeConversationId = Schema.decodeUnknownOption(Ids.ConversationId)
const decodeInstallationId = Schema.decodeUnknownOption(Ids.InstallationId)

/** The conversation named by its id, or by its installation and the application's conversation id. */
const conversationToReplay = (
  id: Option.Option<string>,
  installation: Option.Option<string>,
  external: Option.Option<string>
): Effect.Effect<Option.Option<Ids.ConversationId>, InvalidFlagValue> => {
  if (Option.isSome(id)) {
    if (Option.isSome(installation) || Option.isSome(external)) {
      return Effect.fail(
        new InvalidFlagValue({
          flag: "--conversation",
          message: "name the conversation either by its id or by --installation and --conversation, not both"
        })
      )
    }
    const conversationId = decodeConversationId(id.value)
    return Option.isSome(conversationId)
      ? Effect.succeed(conversationId)
      : Effect.fail(
          new InvalidFlagValue({ flag: "<conversation-id>", message: `${id.value} is not a conversation id` })
        )
  }
  if (Option.isNone(installation) && Option.isNone(external)) return Effect.succeed(Option.none())
  if (Option.isNone(installation) || Option.isNone(external)) {
    return Effect.fail(
      new InvalidFlagValue({
        flag: Option.isNone(installation) ? "--installation" : "--conversation",
        message: "--installation and --conversation go together"
      })
    )
  }
  const installationId = decodeInstallationId(installation.value)
  if (Option.isNone(installationId)) {
    return Effect.fail(
      new InvalidFlagValue({
        flag: "--installation",
        message: `${installation.value} is not an installation id`
      })
    )
  }
  return Effect.succeed(Option.some(Ids.conversationIdFor(installationId.value, external.value)))
}

const replayConversation = Effect.fn("ReplayCommand.replayConversation")(function* (
  conversationId: Ids.ConversationId,
  point: Timeline.Until | undefined,
  json: boolean
) {
  const store = yield* EventStore.EventStore
  const entries = yield* Timeline.readTimeline(store, conversationId)
  if (entries.length === 0) {
    return yield* new InvalidFlagValue({
      flag: "<conversation-id>",
      message: `no conversation ${conversationId} in the event log`
    })
  }
  const shown = Timeline.entriesUntil(entries, point)
  const folded = Timeline.foldUntil(entries, point)
  const summary = Timeline.summarize(folded.state, folded.version)
  // Worded and aligned in the light of the whole stream (an attempt's dead letter may come after --until).
  if (json) {
    for (const record of TimelineText.toRecords(entries).slice(0, shown.length))
      yield* Console.log(encodeRecord(record))
    return yield* Console.log(JSON.stringify({ kind: "state", ...summary }))
  }
  yield* Console.log(`conversation ${conversationId}: ${entries.length} event(s)`)
  for (const line of TimelineText.formatTimeline(entries).slice(0, shown.length)) yield* Console.log(line)
  if (shown.length < entries.length) {
    yield* Console.log(`… ${entries.length - shown.length} later event(s) left out by --until`)
  }
  yield* Console.log("")
  for (const line of TimelineText.formatSummary(summary)) yield* Console.log(line)
})

const rebuildProjections = Effect.fn("ReplayCommand.rebuildProjections")(function* (json: boolean) {
  const projector = yield* Projector.Projector
  const started = Date.now()
  const counts = yield* projector.rebuild
  const took = Date.now() - started
  if (json) return yield* Console.log(JSON.stringify({ kind: "rebuild", ...counts, durationMs: took }))
  yield* Console.log(
    [
      `Rebuilt the read models from the event log in ${took} ms:`,
      `  conversations      ${counts.conversations}`,
      `  messages           ${counts.messages}`,
      `  delivery attempts  ${counts.deliveryAttempts}`,
      `  checkpoint         transaction ${counts.checkpoint.transactionId}, position ${counts.checkpoint.position}`
    ].join("\n")
  )
})

export const replayCommand = Command.make(
  "replay",
  {
    conversationId: Argument.String("conversation-id").pipe(
      Argument.withDescription("The conversation's id (botpressConversationId)"),
      Argument.optional
    ),
    installation: Flag.String("installation").pipe(
      Flag.optional,
      Flag.withDescription("With --conversation: the installation the conversation belongs to")
    ),
    conversation: Flag.String("conversation").pipe(
      Flag.optional,
      Flag.withDescription("With --installation: the application's conversationId")
    ),
    until: Flag.String("until").pipe(
      Flag.optional,
      Flag.withDescription("Fold only up to a stream version (12) or a time (2026-11-25T12:00:00Z)")
    ),
    json: jsonFlag("Print NDJSON: one object per event, then the folded state"),
    rebuildProjections: Flag.Boolean("rebuild-projections").pipe(
      Flag.withDefault(false),
      Flag.withDescription("Empty the read models and project the whole event log again")
    )
  },
  Effect.fn("ReplayCommand")(function* (input) {
    const conversationId = yield* conversationToReplay(
      input.conversationId,
      input.installation,
      input.conversation
    )
    const point = Option.isSome(input.until)
      ? yield* Timeline.parseUntil(input.until.value).pipe(
          Effect.mapError((error) => new InvalidFlagValue({ flag: "--until", message: error.message }))
        )
      : undefined
    if (Option.isNone(conversationId) && !input.rebuildProjections) {
      return yield* new InvalidFlagValue({
        flag: "<conversation-id>",
        message:
          "name a conversation (its id, or --installation and --conversation), or pass --rebuild-projections"
      })
    }
    yield* Effect.gen(function* () {
      if (input.rebuildProjections) yield* rebuildProjections(input.json)
      if (Option.isSome(conversationId)) yield* replayConversation(conversationId.value, point, input.json)
    }).pipe(Effect.provide(ReplayLive))
  })
).pipe(
  Command.withDescription(
    "Print a conversation's timeline and the state folded from it; rebuild the read models"
  ),
  Command.withExamples([
    {
      command: "messaging-api replay 0b7f5a43-0c55-4a4e-9d59-1f7c4b0c0f01",
      description: "The whole timeline, then the state folded from it"
    },
    {
      command: "messaging-api replay --installation 5a0c8f3e-… --conversation conv-1 --until 12 --json",
      description: "By the application's conversation id, folded up to version 12, as NDJSON"
    },
    {
      command: "messaging-api replay --rebuild-projections",
      description: "Project the read models again from the whole log"
    }
  ])
)
