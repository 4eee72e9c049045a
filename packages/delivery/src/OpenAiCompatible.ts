import { type Duration, Effect, Option, Predicate, Redacted, Schema, Stream } from "effect"
import { AiError, LanguageModel, type Prompt, type Response } from "effect/ai"
import { jsonBody } from "./JsonBody.ts"
import { WebhookClient, type WebhookRequestFailed, type WebhookResponse } from "./WebhookClient.ts"

/**
 * A `LanguageModel` (effect/ai) over the OpenAI-compatible chat-completions protocol that OpenAI,
 * Groq, Hugging Face TGI, vLLM and Ollama all speak: `POST {baseUrl}/chat/completions`, not
 * streamed. Its requests go through `WebhookClient`, so the endpoint guard checks every address
 * they connect to and no redirect is followed. Text only: no tools, no structured output.
 *
 * Not `@effect/ai-openai` or `@effect/ai-openai-compat`: their 4.x releases are betas built on
 * an older module layout of effect's AI interfaces than 4.1's `effect/ai`, and they send
 * through an `HttpClient` rather than our guarded client (docs/ARCHITECTURE.md, "Bots").
 */

export interface ProviderConfig {
  /** The API root, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`. */
  readonly baseUrl: string
  readonly model: string
  readonly apiKey?: Redacted.Redacted<string> | undefined
  readonly timeout: Duration.Duration
}

/** One message of the chat-completions request. */
export const ChatMessage = Schema.Struct({
  role: Schema.Literals(["system", "user", "assistant"]),
  content: Schema.String
})
export type ChatMessage = typeof ChatMessage.Type

export const ChatRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(ChatMessage),
  stream: Schema.Boolean
})
export type ChatRequest = typeof ChatRequest.Type

/** The parts of a chat completion we read; everything else is ignored. */
const ContentPart = Schema.Struct({ type: Schema.String, text: Schema.optional(Schema.String) })
export const ChatResponse = Schema.Struct({
  choices: Schema.Array(
    Schema.Struct({
      message: Schema.Struct({
        content: Schema.optional(Schema.NullOr(Schema.Union([Schema.String, Schema.Array(ContentPart)])))
      }),
      finish_reason: Schema.optional(Schema.NullOr(Schema.String))
    })
  ),
  usage: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        prompt_tokens: Schema.optional(Schema.Int),
        completion_tokens: Schema.optional(Schema.Int)
      })
    )
  )
})
export type ChatResponse = typeof ChatResponse.Type

const decodeResponse = Schema.decodeUnknownOption(Schema.fromJsonString(ChatResponse))
const encodeRequest = jsonBody(ChatRequest)
const ErrorBody = Schema.fromJsonString(
  Schema.Struct({
    error: Schema.Union([Schema.String, Schema.Struct({ message: Schema.String })])
  })
)
const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)

/** The most of a provider's error body kept in a message. */
const MAX_ERROR_TEXT = 500

/** The prompt as chat messages: text parts joined; tool calls and files have no place here. */
export const chatMessages = (prompt: Prompt.Prompt): ReadonlyArray<ChatMessage> =>
  prompt.content.flatMap((message): ReadonlyArray<ChatMessage> => {
    if (message.role === "system") return [{ role: "system", content: message.content }]
    if (message.role === "tool") return []
    const text = message.content.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("")
    return [{ role: message.role, content: text }]
  })

const finishReason = (reason: string | null | undefined): Response.FinishReason => {
  switch (reason) {
    case "stop":
    case "length":
    case "content-filter":
      return reason
    case "content_filter":
      return "content-filter"
    case "tool_calls":
      return "tool-calls"
    default:
      return reason === null || reason === undefined ? "unknown" : "other"
  }
}

/** The answer's text parts: one for a string content, one per text part of an array content. */
export const textsOf = (response: ChatResponse): ReadonlyArray<string> => {
  const content = response.choices[0]?.message.content
  if (content === null || content === undefined) return []
  if (typeof content === "string") return [content]
  return content.flatMap((part) => (part.type === "text" && part.text !== undefined ? [part.text] : []))
}

/** The provider's own words for a failure: `error.message` or `error` of a JSON body, else the body. */
export const providerMessage = (response: WebhookResponse): string => {
  const text = new TextDecoder().decode(response.body)
  const parsed = decodeErrorBody(text)
  const message = Option.isSome(parsed)
    ? Predicate.isString(parsed.value.error)
      ? parsed.value.error
      : parsed.value.error.message
    : text.trim()
  return message.length > MAX_ERROR_TEXT ? `${message.slice(0, MAX_ERROR_TEXT)}…` : message
}

/** Never let the key out, even when a provider echoes it back in an error. */
const scrub = (text: string, apiKey: Redacted.Redacted<string> | undefined): string =>
  apiKey === undefined ? text : text.split(Redacted.value(apiKey)).join("<redacted>")

const fail = (method: string, reason: AiError.AiErrorReason) =>
  Effect.fail(AiError.make({ module: "OpenAiCompatible", method, reason }))

/** What `make` needs: the guarded client. */
export type Requirements = WebhookClient

export const make = Effect.fnUntraced(function* (config: ProviderConfig) {
  const client = yield* WebhookClient
  const url = `${config.baseUrl.replace(/\/+$/, "")}/chat/completions`

  const requestFailed = (failure: WebhookRequestFailed) =>
    fail(
      "generateText",
      new AiError.NetworkError({
        reason: failure.kind === "invalid_url" ? "InvalidUrlError" : "TransportError",
        method: "POST",
        url,
        description: `${failure.kind}: ${scrub(failure.message, config.apiKey)}`
      })
    )

  const generateText = (options: LanguageModel.ProviderOptions) =>
    Effect.gen(function* () {
      const response = yield* client
        .postJson({
          url,
          body: encodeRequest({ model: config.model, messages: chatMessages(options.prompt), stream: false }),
          timeout: config.timeout,
          headers: {
            accept: "application/json",
            ...(config.apiKey === undefined
              ? {}
              : { authorization: `Bearer ${Redacted.value(config.apiKey)}` })
          }
        })
        .pipe(Effect.catchTag("WebhookRequestFailed", requestFailed))
      if (response.status < 200 || response.status > 299) {
        const description = scrub(providerMessage(response), config.apiKey)
        return yield* fail(
          "generateText",
          AiError.reasonFromHttpStatus({
            status: response.status,
            http: { response: { status: response.status, headers: retryAfterOf(response) } },
            description: description === "" ? `HTTP ${response.status}` : description
          })
        )
      }
      const text = new TextDecoder().decode(response.body)
      const decoded = response.truncated ? Option.none() : decodeResponse(text)
      if (Option.isNone(decoded)) {
        return yield* fail(
          "generateText",
          new AiError.InvalidResponseError({
            description: response.truncated
              ? "the answer is larger than allowed"
              : "the answer is not a chat completion (no choices[].message)"
          })
        )
      }
      const parts: Array<Response.PartEncoded> = textsOf(decoded.value).map((text) => ({
        type: "text",
        text
      }))
      parts.push({
        type: "finish",
        reason: finishReason(decoded.value.choices[0]?.finish_reason),
        usage: {
          inputTokens: { total: decoded.value.usage?.prompt_tokens },
          outputTokens: { total: decoded.value.usage?.completion_tokens }
        }
      })
      return parts
    })

  // The whole answer, then its text as one delta per part: enough for `streamText` callers.
  const streamText = (options: LanguageModel.ProviderOptions) =>
    Stream.fromIterableEffect(
      generateText(options).pipe(
        Effect.map((parts) =>
          parts.flatMap((part, i): ReadonlyArray<Response.StreamPartEncoded> => {
            if (part.type === "finish") return [part]
            if (part.type !== "text") return []
            const id = String(i)
            return [
              { type: "text-start", id },
              { type: "text-delta", id, delta: part.text },
              { type: "text-end", id }
            ]
          })
        )
      )
    )

  return yield* LanguageModel.make({ generateText, streamText })
})

/** Only `retry-after` of the provider's headers is kept (the rest may say more than we want). */
const retryAfterOf = (response: WebhookResponse): Record<string, string> => {
  const value = response.headers["retry-after"]
  return value === undefined ? {} : { "retry-after": value }
}
