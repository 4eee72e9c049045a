import { Installation, RetrySchedule } from "@messaging-api/domain"
import type { InstallationSetup } from "@messaging-api/http"
import { Config, Effect, Option, Redacted, Schema } from "effect"
import { type Command, Flag } from "effect/cli"
import { InvalidFlagValue } from "./InvalidFlagValue.ts"

/**
 * What `installations create` takes: its flags, and the installation request they make (the bot
 * with the flags of the bots that need more, exactly one of `--response-url` and `--pull-only`, the
 * retry schedule), each wrong value reported as the flag it came from.
 */

export const createFlags = {
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
  system: Flag.String("system").pipe(Flag.optional, Flag.withDescription("With --bot llm: a system prompt")),
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
  )
}

/** The values of `createFlags`, parsed. */
export type CreateFlags = Command.Command.Config.Infer<typeof createFlags>

/** The request `InstallationSetup.create` takes, from the flags. */
export const installationRequest = Effect.fnUntraced(function* (flags: CreateFlags) {
  return {
    bot: yield* botConfig(flags),
    responseUrl: yield* responseUrlOf(flags.responseUrl, flags.pullOnly),
    retrySchedule: yield* retrySchedule(flags.retrySchedule),
    skipVerify: flags.skipVerify
  } satisfies InstallationSetup.InstallationRequest
})

const httpUrl = (flag: string, value: string) =>
  Schema.decodeUnknownEffect(Installation.HttpUrl)(value).pipe(
    Effect.mapError((error) => new InvalidFlagValue({ flag, message: error.message }))
  )

const onlyWith = (flag: string, bots: string) =>
  Effect.fail(new InvalidFlagValue({ flag, message: `is only used with --bot ${bots}` }))

/** `--bot`, and the flags of the bots that need more. */
const botConfig = Effect.fnUntraced(function* (flags: CreateFlags) {
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
