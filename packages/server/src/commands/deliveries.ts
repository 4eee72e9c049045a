import * as ConversationsEngine from "@messaging-api/delivery/Conversations"
import * as DeliveriesReadModel from "@messaging-api/delivery/Deliveries"
import { ConversationCommands, EventStore, Ids, Projector } from "@messaging-api/domain"
import { Conversations } from "@messaging-api/domain/Conversations"
import { Deliveries, DeliveryRecord } from "@messaging-api/domain/Deliveries"
import { BotMessagesApi } from "@messaging-api/http"
import { Console, Effect, Layer, Option, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { DatabaseWithConfig } from "../DatabaseLive.ts"
import { installationScope } from "./InstallationScopeFlag.ts"
import { json } from "./JsonFlag.ts"
import { limit } from "./LimitFlag.ts"
import { formatTable } from "./TextTable.ts"

const decodeMessageId = Schema.decodeUnknownOption(Ids.MessageId)

/**
 * `messaging-api deliveries list|redeliver`: where bot messages' deliveries stand, and dead letters
 * sent again. `list` first brings the read models up to the log (so it is current even with no
 * server running); `redeliver` appends `RedeliveryRequested` to the conversation, and the running
 * server's delivery projector and schedule pick the conversation up and deliver it.
 */

const DeliveriesLive = Layer.mergeAll(
  DeliveriesReadModel.layer,
  ConversationsEngine.layerDirect,
  Projector.Projector.layer
).pipe(Layer.provideMerge(EventStore.EventStore.layer), Layer.provideMerge(DatabaseWithConfig))

const encodeList = Schema.encodeSync(Schema.fromJsonString(Schema.Array(DeliveryRecord)))
const encodeAccepted = Schema.encodeSync(Schema.fromJsonString(BotMessagesApi.AcceptedBotMessage))

const lastAnswer = (record: DeliveryRecord) =>
  record.lastError ?? (record.lastStatus === null ? "-" : `HTTP ${record.lastStatus}`)

const list = Command.make(
  "list",
  {
    dead: Flag.Boolean("dead").pipe(
      Flag.withDefault(false),
      Flag.withDescription("Dead letters only (what `deliveries redeliver` sends again)")
    ),
    installation: Flag.String("installation").pipe(
      Flag.optional,
      Flag.withDescription("Only this installation's messages")
    ),
    limit,
    json
  },
  Effect.fn("DeliveriesCommand.list")(function* (flags) {
    const installationIds = yield* installationScope(flags.installation)
    yield* Effect.gen(function* () {
      const projector = yield* Projector.Projector
      yield* projector.catchUp
      const deliveries = yield* Deliveries
      const found = yield* deliveries.list({
        dead: flags.dead ? true : undefined,
        installationIds,
        limit: Option.getOrUndefined(flags.limit)
      })
      if (flags.json) return yield* Console.log(encodeList(found))
      if (found.length === 0) return yield* Console.log(flags.dead ? "No dead letters." : "No bot messages.")
      yield* Console.log(
        formatTable(
          ["MESSAGE ID", "CONVERSATION ID", "TYPE", "STATUS", "ATTEMPTS", "CREATED", "LAST ANSWER"],
          found.map((record) => [
            record.messageId,
            record.conversationId,
            record.type,
            record.status,
            String(record.attempts),
            record.createdAt,
            lastAnswer(record)
          ])
        )
      )
    }).pipe(Effect.provide(DeliveriesLive))
  })
).pipe(
  Command.withDescription("List bot messages and where their delivery stands, newest first"),
  Command.withExamples([
    {
      command: "messaging-api deliveries list --dead",
      description: "The dead letters of every installation"
    },
    {
      command: "messaging-api deliveries list --installation $INSTALLATION_ID --json",
      description: "One installation's bot messages, as JSON"
    }
  ])
)

const redeliver = Command.make(
  "redeliver",
  {
    id: Argument.String("id").pipe(
      Argument.withDescription(
        "The dead letter's botpressMessageId (its webhook-id), as `deliveries list` shows it"
      )
    ),
    json
  },
  Effect.fn("DeliveriesCommand.redeliver")(function* ({ id, json }) {
    yield* Effect.gen(function* () {
      const conversations = yield* Conversations
      const messageId = decodeMessageId(id)
      if (Option.isNone(messageId))
        return yield* new ConversationCommands.UnknownBotMessage({ messageId: id })
      const accepted = yield* conversations.redeliver(messageId.value)
      if (json) {
        return yield* Console.log(
          encodeAccepted({
            botpressMessageId: accepted.messageId,
            botpressConversationId: accepted.conversationId
          })
        )
      }
      yield* Console.log(
        `Queued bot message ${accepted.messageId} (conversation ${accepted.conversationId}) for delivery again; ` +
          "the running server delivers it after whatever the conversation has pending."
      )
    }).pipe(Effect.provide(DeliveriesLive))
  })
).pipe(Command.withDescription("Deliver a dead letter again (same webhook-id, a fresh retry schedule)"))

export const deliveriesCommand = Command.make("deliveries").pipe(
  Command.withDescription("List deliveries and redeliver dead letters"),
  Command.withSubcommands([list, redeliver])
)
