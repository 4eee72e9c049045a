import { ConversationHistory, EventStore, Projector, ReadModels } from "@messaging-api/domain"
import { Console, Effect, Layer, Option, Predicate, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { DatabaseWithConfig } from "../DatabaseLive.ts"
import { installationScope } from "./InstallationScopeFlag.ts"
import { InvalidFlagValue } from "./InvalidFlagValue.ts"
import { json } from "./JsonFlag.ts"
import { limit } from "./LimitFlag.ts"
import { formatTable } from "./TextTable.ts"

/**
 * `messaging-api conversations list|show`: the conversation history API's read models from the
 * shell. Both first bring the read models up to the event log (so they are current even with no
 * server running), then read them as an admin token would: every installation, or one.
 */

const ConversationsLive = Layer.mergeAll(
  ConversationHistory.ConversationHistory.layer,
  Projector.Projector.layer
).pipe(Layer.provideMerge(EventStore.EventStore.layer), Layer.provideMerge(DatabaseWithConfig))

/** What `list --json` prints: one page, as `GET /v1/conversations` answers it. */
const ConversationPage = ReadModels.Page(ReadModels.ConversationSummary)
const encodePage = Schema.encodeSync(Schema.fromJsonString(ConversationPage))

/** What `show --json` prints: the conversation's counts and all its messages in conversation order. */
const ConversationWithMessages = Schema.Struct({
  conversation: ReadModels.ConversationSummary,
  messages: Schema.Array(ReadModels.MessageRecord)
})
const encodeShown = Schema.encodeSync(Schema.fromJsonString(ConversationWithMessages))

const clip = (text: string, max = 60): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

const caughtUp = Effect.gen(function* () {
  const projector = yield* Projector.Projector
  yield* projector.catchUp
  return yield* ConversationHistory.ConversationHistory
})

const list = Command.make(
  "list",
  {
    installation: Flag.String("installation").pipe(
      Flag.optional,
      Flag.withDescription("Only this installation's conversations")
    ),
    conversation: Flag.String("conversation").pipe(
      Flag.optional,
      Flag.withDescription("Only those with this conversationId of the application's")
    ),
    limit,
    cursor: Flag.String("cursor").pipe(
      Flag.optional,
      Flag.withDescription("The next page: the cursor the previous page ended with")
    ),
    json
  },
  Effect.fn("ConversationsCommand.list")(function* (flags) {
    const installationIds = yield* installationScope(flags.installation)
    yield* Effect.gen(function* () {
      const history = yield* caughtUp
      const page = yield* history
        .listConversations({
          installationIds,
          externalConversationId: Option.getOrUndefined(flags.conversation),
          limit: Option.getOrUndefined(flags.limit),
          cursor: Option.getOrUndefined(flags.cursor)
        })
        .pipe(
          Effect.catchTag("InvalidCursor", (error) =>
            Effect.fail(new InvalidFlagValue({ flag: "--cursor", message: error.message }))
          )
        )
      if (flags.json) return yield* Console.log(encodePage(page))
      if (page.items.length === 0) return yield* Console.log("No conversations.")
      yield* Console.log(
        formatTable(
          [
            "CONVERSATION ID",
            "INSTALLATION ID",
            "CONVERSATION",
            "STARTED",
            "LAST ACTIVITY",
            "USER",
            "BOT",
            "PENDING",
            "DEAD"
          ],
          page.items.map((conversation) => [
            conversation.id,
            conversation.installationId,
            conversation.externalConversationId,
            conversation.startedAt,
            conversation.lastActivityAt,
            String(conversation.userMessageCount),
            String(conversation.botMessageCount),
            String(conversation.pendingCount),
            String(conversation.deadLetteredCount)
          ])
        )
      )
      if (page.nextCursor !== null) yield* Console.log(`More: --cursor ${page.nextCursor}`)
    }).pipe(Effect.provide(ConversationsLive))
  })
).pipe(
  Command.withDescription("List conversations, newest first, a page at a time"),
  Command.withExamples([
    {
      command: "messaging-api conversations list --installation $INSTALLATION_ID --limit 20",
      description: "One installation's 20 newest conversations; the last line gives the next page's --cursor"
    },
    {
      command: "messaging-api conversations list --conversation conv-1 --json",
      description: "Find a conversation by the application's conversationId, as JSON"
    }
  ])
)

/** Every message of the conversation, a page at a time. */
const allMessages = (history: ConversationHistory.ConversationHistory["Service"], conversationId: string) =>
  Effect.gen(function* () {
    const messages: Array<ReadModels.MessageRecord> = []
    let cursor: string | undefined
    do {
      const page = yield* history.listMessages(conversationId, {
        installationIds: "all",
        limit: ReadModels.maxPageSize,
        cursor
      })
      messages.push(...page.items)
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined)
    return messages
  })

/** A message's content on one line: a user message's text, a bot message's payload `text` or its JSON. */
const contentOf = (message: ReadModels.MessageRecord): string => {
  if (message.text !== null) return JSON.stringify(clip(message.text))
  const payload = message.payload
  return Predicate.isObject(payload) && "text" in payload && Predicate.isString(payload.text)
    ? JSON.stringify(clip(payload.text))
    : clip(JSON.stringify(payload) ?? "null")
}

/** A user message's bot turn, or a bot message's delivery. */
const statusOf = (message: ReadModels.MessageRecord): string => {
  if (message.turn !== null) {
    return `turn ${message.turn.status}${message.turn.failures === 0 ? "" : ` (${message.turn.failures} failure(s))`}`
  }
  const delivery = message.delivery
  if (delivery === null) return "-"
  const last =
    delivery.status === "delivered" || (delivery.lastError === null && delivery.lastStatus === null)
      ? ""
      : `, last ${delivery.lastError ?? `HTTP ${delivery.lastStatus}`}`
  return `${delivery.status} after ${delivery.attempts} attempt(s)${last}`
}

const describeConversation = (conversation: ReadModels.ConversationSummary): ReadonlyArray<string> => [
  `Conversation ${conversation.id} (${JSON.stringify(conversation.externalConversationId)})`,
  `  installation   ${conversation.installationId}`,
  `  started        ${conversation.startedAt}`,
  `  last activity  ${conversation.lastActivityAt}`,
  `  version        ${conversation.version}`,
  `  messages       ${conversation.userMessageCount} from users, ${conversation.botMessageCount} from the bot`,
  `  open turns     ${conversation.openTurnCount}`,
  `  deliveries     ${conversation.pendingCount} pending, ${conversation.deliveredCount} delivered, ${conversation.deadLetteredCount} dead-lettered`
]

const show = Command.make(
  "show",
  {
    id: Argument.String("conversation-id").pipe(
      Argument.withDescription(
        "The conversation's id (botpressConversationId), as `conversations list` shows it"
      )
    ),
    json
  },
  Effect.fn("ConversationsCommand.show")(function* ({ id, json }) {
    yield* Effect.gen(function* () {
      const history = yield* caughtUp
      const notFound = () =>
        Effect.fail(new InvalidFlagValue({ flag: "<conversation-id>", message: `no conversation ${id}` }))
      const conversation = yield* history
        .getConversation(id, "all")
        .pipe(Effect.catchTag("ConversationNotFound", notFound))
      const messages = yield* allMessages(history, conversation.id).pipe(
        Effect.catchTag("ConversationNotFound", notFound),
        // Cursors come from the pages just read; one that does not decode is a bug, not a user error.
        Effect.catchTag("InvalidCursor", Effect.die)
      )
      if (json) return yield* Console.log(encodeShown({ conversation, messages }))
      for (const line of describeConversation(conversation)) yield* Console.log(line)
      yield* Console.log("")
      if (messages.length === 0) return yield* Console.log("No messages.")
      yield* Console.log(
        formatTable(
          ["POS", "FROM", "MESSAGE ID", "TYPE", "CREATED", "STATUS", "CONTENT"],
          messages.map((message) => [
            String(message.position),
            message.direction === "user" ? `user ${JSON.stringify(message.externalUserId ?? "")}` : "bot",
            message.id,
            message.type,
            message.createdAt,
            statusOf(message),
            contentOf(message)
          ])
        )
      )
    }).pipe(Effect.provide(ConversationsLive))
  })
).pipe(
  Command.withDescription("Show one conversation: its counts, then every message with its turn or delivery"),
  Command.withExamples([
    {
      command: "messaging-api conversations show 0b7f5a43-0c55-4a4e-9d59-1f7c4b0c0f01",
      description: "The counts and the messages, in conversation order"
    }
  ])
)

export const conversationsCommand = Command.make("conversations").pipe(
  Command.withDescription("List conversations and show one with its messages"),
  Command.withSubcommands([list, show])
)
