import * as EndpointVerifier from "@messaging-api/delivery/EndpointVerifier"
import { EndpointHealth, Installation, Installations, RetrySchedule } from "@messaging-api/domain"
import { HttpSettings, InstallationSetup, InstallationsApi } from "@messaging-api/http"
import { Config, Console, Effect, Layer, Option, Redacted, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { DatabaseWithConfig } from "../DatabaseLive.ts"
import { EndpointGuardLive, ServerConfig } from "../ServerConfig.ts"
import { json } from "./JsonFlag.ts"
import { formatTable } from "./TextTable.ts"

/**
 * `messaging-api installations create|list|show|resume|delete|rotate-secret`: the admin API's
 * installations, from the shell, each with its response endpoint's health (healthy, failing, paused).
 * Creating one goes through the same `InstallationSetup` as `POST /v1/installations` (the response
 * endpoint must accept the test message first), and webhook URLs are built from PUBLIC_URL.
 */

/** A flag's value is not what the flag takes (a URL that is not one, a schedule that does not parse). */
export class InvalidFlagValue extends Schema.TaggedError<InvalidFlagValue>()("InvalidFlagValue", {
  flag: Schema.String,
  message: Schema.String
}) {}

const InstallationsLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ServerConfig
    return InstallationSetup.InstallationSetup.layer.pipe(
      Layer.provide(EndpointVerifier.layerWithOwnClient),
      Layer.provideMerge(
        Layer.mergeAll(Installations.Installations.layer, EndpointHealth.EndpointHealth.layer)
      ),
      Layer.provide(
        HttpSettings.layer({
          publicUrl: config.publicUrl,
          minRetryDelay: config.minRetryDelay,
          secretRotationOverlap: config.secretRotationOverlap
        })
      )
    )
  })
).pipe(Layer.provide(EndpointGuardLive), Layer.provideMerge(DatabaseWithConfig))

/** What `create --json` prints: enough for a script to wire up its side, nothing more. */
const CreatedJson = Schema.Struct({
  id: Schema.String,
  webhookUrl: Schema.String,
  signingSecret: Schema.String
})
const encodeCreated = Schema.encodeSync(Schema.fromJsonString(CreatedJson))
/** What `rotate-secret --json` prints: the new secret, and until when the replaced one also signs. */
const RotatedJson = Schema.Struct({
  id: Schema.String,
  signingSecret: Schema.String,
  previousSecretExpiresAt: Schema.optionalKey(Schema.String)
})
const encodeRotated = Schema.encodeSync(Schema.fromJsonString(RotatedJson))
const encodeList = Schema.encodeSync(Schema.fromJsonString(Schema.Array(InstallationsApi.InstallationView)))
const encodeOne = Schema.encodeSync(Schema.fromJsonString(InstallationsApi.InstallationView))

const httpUrl = (flag: string, value: string) =>
  Schema.decodeUnknownEffect(Installation.HttpUrl)(value).pipe(
    Effect.mapError((error) => new InvalidFlagValue({ flag, message: error.message }))
  )

/** What `create` takes about the bot: `--bot`, and the flags of the bots that need more. */
interface BotFlags {
  readonly bot: "echo" | "http" | "llm"
  readonly botUrl: Option.Option<string>
  readonly model: Option.Option<string>
  readonly apiKey: Option.Option<Redacted.Redacted<string>>
  readonly system: Option.Option<string>
  readonly historyMessages: Option.Option<number>
}

const onlyWith = (flag: string, bots: string) =>
  Effect.fail(new InvalidFlagValue({ flag, message: `is only used with --bot ${bots}` }))

const botConfig = Effect.fnUntraced(function* (flags: BotFlags) {
  const llmOnly: ReadonlyArray<readonly [string, boolean]> = [
    ["--model", Option.isSome(flags.model)],
    ["--api-key", Option.isSome(flags.apiKey)],
    ["--system", Option.isSome(flags.system)],
    ["--history-messages", Option.isSome(flags.historyMessages)]
  ]
  if (flags.bot !== "llm") {
    for (const [flag, given] of llmOnly) if (given) return yield* onlyWith(flag, "llm")
  }
  if (flags.bot === "echo") {
    if (Option.isSome(flags.botUrl)) return yield* onlyWith("--bot-url", "http or llm")
    return { _tag: "echo" } satisfies Installation.BotConfig
  }
  if (Option.isNone(flags.botUrl)) {
    return yield* new InvalidFlagValue({
      flag: "--bot-url",
      message:
        flags.bot === "http"
          ? "is required with --bot http (where turns are POSTed)"
          : "is required with --bot llm (the chat-completions API root, e.g. http://127.0.0.1:11434/v1)"
    })
  }
  const url = yield* httpUrl("--bot-url", flags.botUrl.value)
  if (flags.bot === "http") return { _tag: "http", url } satisfies Installation.BotConfig
  if (Option.isNone(flags.model)) {
    return yield* new InvalidFlagValue({ flag: "--model", message: "is required with --bot llm" })
  }
  // The key from the environment, when the flag does not give it: out of the process list.
  const apiKey = Option.isSome(flags.apiKey)
    ? flags.apiKey
    : yield* Config.option(Config.Redacted("LLM_API_KEY")).pipe(
        Effect.mapError((error) => new InvalidFlagValue({ flag: "LLM_API_KEY", message: error.message }))
      )
  const history = flags.historyMessages
  if (Option.isSome(history) && (history.value < 1 || history.value > Installation.MAX_HISTORY_MESSAGES)) {
    return yield* new InvalidFlagValue({
      flag: "--history-messages",
      message: `must be between 1 and ${Installation.MAX_HISTORY_MESSAGES}`
    })
  }
  return {
    _tag: "llm",
    baseUrl: url,
    model: flags.model.value,
    ...(Option.isSome(apiKey) && Redacted.value(apiKey.value) !== "" ? { apiKey: apiKey.value } : {}),
    ...(Option.isSome(flags.system) ? { system: flags.system.value } : {}),
    ...(Option.isSome(history) ? { historyMessages: history.value } : {})
  } satisfies Installation.BotConfig
})

/** Exactly one of `--response-url` and `--pull-only`. */
const responseUrlOf = (responseUrl: Option.Option<string>, pullOnly: boolean) => {
  if (pullOnly) {
    return Option.isSome(responseUrl)
      ? Effect.fail(
          new InvalidFlagValue({
            flag: "--pull-only",
            message: "a pull-only installation has no --response-url"
          })
        )
      : Effect.succeed(null)
  }
  return Option.isNone(responseUrl)
    ? Effect.fail(
        new InvalidFlagValue({
          flag: "--response-url",
          message: "is required (or --pull-only: replies read, never POSTed)"
        })
      )
    : httpUrl("--response-url", responseUrl.value)
}

const retrySchedule = (value: Option.Option<string>) => {
  if (Option.isNone(value)) return Effect.succeed(undefined)
  const parsed = RetrySchedule.parseRetrySchedule(value.value)
  return parsed instanceof RetrySchedule.InvalidRetrySchedule
    ? Effect.fail(new InvalidFlagValue({ flag: "--retry-schedule", message: parsed.message }))
    : Effect.succeed(parsed)
}

const describeBot = (bot: InstallationsApi.BotView) => {
  switch (bot._tag) {
    case "echo":
      return "echo"
    case "http":
      return `http ${bot.url}`
    case "llm":
      return `llm ${bot.model} at ${bot.baseUrl}${bot.apiKey === undefined ? "" : " (key set)"}`
  }
}
/** A pull-only installation has no response URL: its replies are read, not POSTed. */
const describeResponseUrl = (url: string | null) => url ?? "none (pull-only)"
const describeSchedule = (schedule: RetrySchedule.RetrySchedule) =>
  schedule.length === 0 ? "none" : RetrySchedule.formatRetrySchedule(schedule)

/** `healthy`, `failing since …`, `paused at … (failing since …)`. */
const describeEndpoint = (endpoint: EndpointHealth.EndpointStatus) => {
  switch (endpoint.status) {
    case "healthy":
      return "healthy"
    case "failing":
      return `failing since ${endpoint.failingSince ?? "?"}`
    case "paused":
      return `paused at ${endpoint.pausedAt ?? "?"}${
        endpoint.failingSince === undefined ? "" : ` (failing since ${endpoint.failingSince})`
      }`
  }
}

/** The installations as the API shows them, each with its endpoint's health. */
const viewAll = Effect.gen(function* () {
  const installations = yield* Installations.Installations
  const health = yield* EndpointHealth.EndpointHealth
  const setup = yield* InstallationSetup.InstallationSetup
  const all = yield* installations.list
  const endpoints = yield* health.getMany(all.map((installation) => installation.id))
  return all.map((installation) => setup.view(installation, endpoints.get(installation.id)))
})

const viewOne = (id: string) =>
  Effect.gen(function* () {
    const installation = yield* (yield* Installations.Installations).get(id)
    const endpoint = yield* (yield* EndpointHealth.EndpointHealth).get(installation.id)
    return (yield* InstallationSetup.InstallationSetup).view(installation, endpoint)
  })

const describeInstallation = (installation: InstallationsApi.InstallationView) =>
  [
    `Installation ${installation.id}`,
    `  bot             ${describeBot(installation.bot)}`,
    `  response URL    ${describeResponseUrl(installation.responseUrl)}`,
    `  endpoint        ${describeEndpoint(installation.endpoint)}`,
    ...(installation.endpoint.lastError === undefined
      ? []
      : [`  last error      ${installation.endpoint.lastError}`]),
    `  webhook URL     ${installation.webhookUrl}`,
    `  retry schedule  ${describeSchedule(installation.retrySchedule)}`,
    `  created         ${installation.createdAt}`
  ].join("\n")

const idArgument = Argument.String("id").pipe(Argument.withDescription("The installation's id"))

const create = Command.make(
  "create",
  {
    bot: Flag.Literals("bot", ["echo", "http", "llm"]).pipe(
      Flag.withDefault("echo"),
      Flag.withDescription("The bot answering this installation's conversations (default echo)")
    ),
    botUrl: Flag.String("bot-url").pipe(
      Flag.optional,
      Flag.withDescription(
        "With --bot http: the URL each turn is POSTed to; with --bot llm: the chat-completions API root (…/v1)"
      )
    ),
    model: Flag.String("model").pipe(
      Flag.optional,
      Flag.withDescription("With --bot llm: the model name the provider knows")
    ),
    apiKey: Flag.Redacted("api-key").pipe(
      Flag.optional,
      Flag.withDescription(
        "With --bot llm: the provider's key (or LLM_API_KEY, which keeps it out of the process list); never shown again"
      )
    ),
    system: Flag.String("system").pipe(
      Flag.optional,
      Flag.withDescription("With --bot llm: a system prompt")
    ),
    historyMessages: Flag.Int("history-messages").pipe(
      Flag.optional,
      Flag.withDescription(
        "With --bot llm: how many of the conversation's latest messages it sees (default 20)"
      )
    ),
    responseUrl: Flag.String("response-url").pipe(
      Flag.optional,
      Flag.withDescription("Your endpoint: every bot message is POSTed there, signed")
    ),
    pullOnly: Flag.Boolean("pull-only").pipe(
      Flag.withDefault(false),
      Flag.withDescription(
        "No response endpoint: replies are read from the webhook's answer (?wait=), the history API or the live streams"
      )
    ),
    retrySchedule: Flag.String("retry-schedule").pipe(
      Flag.optional,
      Flag.withDescription(
        "Waits after the first delivery try, e.g. 1s,5s,30s (default 5s,5m,30m,2h,5h,10h,10h)"
      )
    ),
    skipVerify: Flag.Boolean("skip-verify").pipe(
      Flag.withDefault(false),
      Flag.withDescription(
        'Create it without first POSTing {"type":"test","payload":"test"} to the response URL'
      )
    ),
    json
  },
  Effect.fn("InstallationsCommand.create")(function* (flags) {
    const request = {
      bot: yield* botConfig(flags),
      responseUrl: yield* responseUrlOf(flags.responseUrl, flags.pullOnly),
      retrySchedule: yield* retrySchedule(flags.retrySchedule),
      skipVerify: flags.skipVerify
    }
    yield* Effect.gen(function* () {
      const setup = yield* InstallationSetup.InstallationSetup
      const created = yield* setup.create(request)
      if (flags.json) return yield* Console.log(encodeCreated(created))
      yield* Console.log(
        [
          `Created installation ${created.id}`,
          `  bot             ${describeBot(created.bot)}`,
          `  response URL    ${describeResponseUrl(created.responseUrl)}`,
          `  webhook URL     ${created.webhookUrl}`,
          `  signing secret  ${created.signingSecret}`,
          `  retry schedule  ${describeSchedule(created.retrySchedule)}`,
          "",
          "POST user messages to the webhook URL with a token from:",
          `  messaging-api tokens create --installation ${created.id}`
        ].join("\n")
      )
    }).pipe(Effect.provide(InstallationsLive))
  })
).pipe(
  Command.withDescription(
    "Create an installation (its response endpoint must answer the test message with a 2xx)"
  ),
  Command.withExamples([
    {
      command: "messaging-api installations create --bot echo --response-url https://app.example/replies",
      description: "An echo bot replying to your endpoint"
    },
    {
      command:
        "messaging-api installations create --bot http --bot-url https://bot.example/turn --response-url https://app.example/replies --retry-schedule 1s,5s,30s --json",
      description: "Your own bot, a short retry schedule, and JSON for a script"
    },
    {
      command:
        "LLM_API_KEY=… messaging-api installations create --bot llm --bot-url http://127.0.0.1:11434/v1 --model llama3.2 --system 'Answer briefly.' --pull-only",
      description: "An LLM bot on a local Ollama; replies read from the webhook's answer (?wait=5s)"
    }
  ])
)

const list = Command.make("list", { json }, (flags) =>
  Effect.gen(function* () {
    const all = yield* viewAll
    if (flags.json) return yield* Console.log(encodeList(all))
    if (all.length === 0) {
      return yield* Console.log(
        "No installations. Create one with: messaging-api installations create --response-url URL"
      )
    }
    yield* Console.log(
      formatTable(
        ["ID", "BOT", "RESPONSE URL", "ENDPOINT", "WEBHOOK URL", "RETRY SCHEDULE"],
        all.map((installation) => [
          installation.id,
          describeBot(installation.bot),
          describeResponseUrl(installation.responseUrl),
          installation.endpoint.status,
          installation.webhookUrl,
          describeSchedule(installation.retrySchedule)
        ])
      )
    )
  }).pipe(Effect.provide(InstallationsLive))
).pipe(Command.withDescription("List the installations (--json includes their signing secrets)"))

const show = Command.make("show", { id: idArgument, json }, (flags) =>
  Effect.gen(function* () {
    const installation = yield* viewOne(flags.id)
    yield* Console.log(flags.json ? encodeOne(installation) : describeInstallation(installation))
  }).pipe(Effect.provide(InstallationsLive))
).pipe(
  Command.withDescription(
    "Show one installation and its response endpoint's health (healthy, failing since …, paused at …)"
  )
)

const resume = Command.make("resume", { id: idArgument, json }, (flags) =>
  Effect.gen(function* () {
    const before = yield* viewOne(flags.id)
    yield* (yield* EndpointHealth.EndpointHealth).resume(before.id)
    const after = yield* viewOne(flags.id)
    if (flags.json) return yield* Console.log(encodeOne(after))
    yield* Console.log(
      before.endpoint.status === "paused"
        ? `Resumed installation ${after.id}: its held deliveries are sent again, in order (by the running server, within about a second)`
        : `Installation ${after.id} was not paused (endpoint ${describeEndpoint(before.endpoint)}); it is healthy now`
    )
  }).pipe(Effect.provide(InstallationsLive))
).pipe(
  Command.withDescription(
    "Resume a paused response endpoint: deliveries held since the pause go out again, in order per conversation"
  )
)

const remove = Command.make("delete", { id: idArgument }, ({ id }) =>
  Effect.gen(function* () {
    const installations = yield* Installations.Installations
    yield* installations.delete(id)
    yield* Console.log(`Deleted installation ${id}`)
  }).pipe(Effect.provide(InstallationsLive))
).pipe(Command.withDescription("Delete an installation (its conversations' history is kept)"))

const rotateSecret = Command.make(
  "rotate-secret",
  { id: Argument.String("id").pipe(Argument.withDescription("The installation's id")), json },
  (flags) =>
    Effect.gen(function* () {
      const setup = yield* InstallationSetup.InstallationSetup
      const rotated = yield* setup.rotateSecret(flags.id)
      const until = rotated.previousSecretExpiresAt
      if (flags.json) {
        return yield* Console.log(
          encodeRotated({
            id: rotated.id,
            signingSecret: rotated.signingSecret,
            ...(until === undefined ? {} : { previousSecretExpiresAt: until })
          })
        )
      }
      yield* Console.log(
        [
          `Rotated the signing secret of installation ${rotated.id}`,
          `  signing secret  ${rotated.signingSecret}`,
          ...(until === undefined ? [] : [`  the previous secret also signs until ${until}`])
        ].join("\n")
      )
    }).pipe(Effect.provide(InstallationsLive))
).pipe(
  Command.withDescription(
    "Replace the signing secret; the old one keeps signing beside it for SECRET_ROTATION_OVERLAP (24 hours)"
  )
)

export const installationsCommand = Command.make("installations").pipe(
  Command.withDescription(
    "Create, list, show, resume and delete installations, and rotate their signing secrets"
  ),
  Command.withSubcommands([create, list, show, resume, remove, rotateSecret])
)
