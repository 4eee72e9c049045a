import { ConversationStream, EventStore, Ids } from "@messaging-api/domain"
import type { ConversationEvent } from "@messaging-api/domain/ConversationEvents"
import { DEFAULT_HISTORY_MESSAGES, type LlmBotConfig } from "@messaging-api/domain/Installation"
import { Duration, Effect, Predicate, Stream } from "effect"
import type { AiError, Prompt } from "effect/ai"
import type { BotFailure, BotReply, BotTurn } from "./BotTurn.ts"
import * as DeliveryPolicy from "./DeliveryPolicy.ts"
import { DeliverySettings } from "./DeliverySettings.ts"
import * as OpenAiCompatible from "./OpenAiCompatible.ts"

/**
 * The llm bot: each turn asks an OpenAI-compatible chat-completions model (through effect/ai's
 * `LanguageModel`, `OpenAiCompatible` as its provider) for the answer to the conversation so far.
 * The context is the conversation's own history from the event log: its last `historyMessages`
 * user and bot messages up to and including the turn's user message, in order, after the
 * optional system prompt. Each text part of the answer becomes one Botpress `text` message.
 * Failures follow the bot-turn policy: no answer in time, a network error, 408/425/429/5xx are
 * retried along the schedule; any other 4xx fails the turn for good with the provider's message.
 */

/** What the model sees of one message: a user's text; a bot's text, or its payload as JSON. */
const textOf = (event: ConversationEvent): string | undefined => {
  switch (event._tag) {
    case "UserMessageReceived":
      return event.text
    case "BotMessageEmitted": {
      const payload = event.payload
      return Predicate.isObject(payload) && Predicate.isString((payload as { text?: unknown }).text)
        ? (payload as { text: string }).text
        : JSON.stringify(payload)
    }
    default:
      return undefined
  }
}

/** The prompt for a turn: the system prompt, then the history as user and assistant messages. */
export const promptFor = (
  config: LlmBotConfig,
  history: ReadonlyArray<ConversationEvent>
): Array<Prompt.MessageEncoded> => [
  ...(config.system === undefined || config.system === ""
    ? []
    : [{ role: "system" as const, content: config.system }]),
  ...history.flatMap((event): ReadonlyArray<Prompt.MessageEncoded> => {
    const text = textOf(event)
    if (text === undefined) return []
    return [
      {
        role: event._tag === "UserMessageReceived" ? ("user" as const) : ("assistant" as const),
        content: [{ type: "text" as const, text }]
      }
    ]
  })
]

/** How an effect/ai failure falls under the bot-turn policy; the message is the provider's. */
export const failureOf = (error: AiError.AiError): BotFailure => {
  const reason = error.reason
  const http = (reason as { readonly http?: typeof AiError.HttpContext.Type | undefined }).http
  const status = http?.response?.status
  if (status !== undefined) {
    const headers = http?.response?.headers ?? {}
    const retryAfter = headers["retry-after"]
    const description = "description" in reason && reason.description !== undefined ? reason.description : ""
    const error = `the model provider answered HTTP ${status}${description === "" ? "" : `: ${description}`}`
    const failure = DeliveryPolicy.classifyStatus(
      status,
      Predicate.isString(retryAfter) ? { "retry-after": retryAfter } : {},
      Date.now()
    )
    // A 2xx whose body failed is not worth asking again.
    return failure === undefined
      ? new DeliveryPolicy.PermanentFailure({ status, error })
      : DeliveryPolicy.describedAs(failure, error)
  }
  if (reason._tag === "NetworkError") {
    const error = `the model provider could not be reached: ${reason.description ?? reason.reason}`
    return reason.reason === "TransportError"
      ? DeliveryPolicy.transientFailure(error)
      : DeliveryPolicy.permanentFailure(error)
  }
  return DeliveryPolicy.permanentFailure(
    `the model provider's answer could not be used: ${"description" in reason ? reason.description : reason._tag}`
  )
}

export const make = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  const settings = yield* DeliverySettings
  const makeModel = yield* Effect.map(
    Effect.context<OpenAiCompatible.Requirements>(),
    (context) => (config: OpenAiCompatible.ProviderConfig) =>
      OpenAiCompatible.make(config).pipe(Effect.provideContext(context))
  )

  /** The turn's history: the conversation's messages up to its user message, the last `limit` of them. */
  const historyOf = (turn: BotTurn, limit: number) =>
    store.readStream(Ids.conversationStream(turn.conversationId)).pipe(
      Stream.mapEffect(ConversationStream.fromRecorded),
      Stream.takeUntil(
        (event) => event._tag === "UserMessageReceived" && event.messageId === turn.message.messageId
      ),
      Stream.filter((event) => event._tag === "UserMessageReceived" || event._tag === "BotMessageEmitted"),
      Stream.runFold(
        (): Array<ConversationEvent> => [],
        (kept, event) => {
          kept.push(event)
          if (kept.length > limit) kept.shift()
          return kept
        }
      ),
      Effect.mapError((error) =>
        DeliveryPolicy.transientFailure(`the conversation's history could not be read: ${error._tag}`)
      )
    )

  const call = Effect.fn("LlmBot.respond")(function* (turn: BotTurn, config: LlmBotConfig) {
    yield* Effect.annotateCurrentSpan({ model: config.model })
    const history = yield* historyOf(turn, config.historyMessages ?? DEFAULT_HISTORY_MESSAGES)
    const model = yield* makeModel({
      baseUrl: config.baseUrl,
      model: config.model,
      apiKey: config.apiKey,
      timeout: config.timeoutMs === undefined ? settings.botTimeout : Duration.millis(config.timeoutMs)
    })
    const response = yield* model
      .generateText({ prompt: promptFor(config, history) })
      .pipe(Effect.mapError(failureOf))
    return response.content.flatMap(
      (part): ReadonlyArray<BotReply> =>
        part.type === "text" && part.text.trim() !== ""
          ? [{ type: "text", payload: { text: part.text } }]
          : []
    )
  })

  return (turn: BotTurn, config: LlmBotConfig): Stream.Stream<BotReply, BotFailure> =>
    Stream.fromIterableEffect(call(turn, config))
})
