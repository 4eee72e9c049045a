import * as EndpointGuard from "@messaging-api/domain/EndpointGuard"
import { hotSpan } from "@messaging-api/domain/Tracing"
import { Context, Duration, Effect, Layer, Option, Schema, Tracer } from "effect"
import { Agent, type Dispatcher } from "undici"
import { DeliverySettings } from "./DeliverySettings.ts"
import * as WebhookSigner from "./WebhookSigner.ts"

/**
 * One signed JSON POST: what deliveries and the http bot both send. It refuses anything but
 * http(s) URLs, gives each request a time limit (response body included) and reads at most
 * `maxResponseBytes` of the answer. Retrying is the caller's business.
 */

export interface SignedRequest {
  readonly url: string
  /**
   * The installation's `whsec_…` secrets, the current one first (see `Installation.signingSecrets`):
   * one signature each.
   */
  readonly secrets: ReadonlyArray<string>
  /** `webhook-id`. */
  readonly id: string
  /** The JSON body, exactly as it is signed and sent. */
  readonly body: string
  /** Overrides the settings' request timeout. */
  readonly timeout?: Duration.Duration | undefined
}

export interface WebhookResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
  /** The answer was longer than the cap: `body` holds its beginning only. */
  readonly truncated: boolean
}

export class WebhookRequestFailed extends Schema.TaggedError<WebhookRequestFailed>()("WebhookRequestFailed", {
  kind: Schema.Literals(["invalid_url", "not_allowed", "timeout", "network"]),
  message: Schema.String
}) {}

/** Whether a URL may be called at all: only absolute http(s) URLs without credentials. */
export const checkUrl = (url: string): WebhookRequestFailed | URL => {
  const parsed = EndpointGuard.parseEndpoint(url)
  return typeof parsed === "string"
    ? new WebhookRequestFailed({ kind: "invalid_url", message: parsed })
    : parsed
}

const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk.subarray(0, size - offset), offset)
    offset += Math.min(chunk.length, size - offset)
  }
  return out
}

const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    const inner = (cause as { cause?: unknown }).cause
    return inner instanceof Error && inner.message !== ""
      ? `${cause.message}: ${inner.message}`
      : cause.message
  }
  return String(cause)
}

/** An unsigned JSON POST: the installation check's test message, an llm bot's chat completion. */
export interface JsonRequest {
  readonly url: string
  readonly body: string
  readonly timeout?: Duration.Duration | undefined
  /** Sent as they are (an llm provider's `authorization`); never logged or traced here. */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

export class WebhookClient extends Context.Service<
  WebhookClient,
  {
    post(request: SignedRequest): Effect.Effect<WebhookResponse, WebhookRequestFailed>
    postJson(request: JsonRequest): Effect.Effect<WebhookResponse, WebhookRequestFailed>
  }
>()("@messaging-api/delivery/WebhookClient") {
  /**
   * Straight over an undici connection pool of its own (closed with the layer), through its
   * dispatcher: the answer's parts arrive as callbacks, with no promise, body stream or abort
   * signal per request. Measured side by side: 92–98 µs of CPU per POST through undici's
   * `request`, 62–64 µs dispatched (docs/PERFORMANCE.md, item 19); effect's HttpClient over undici
   * had cost about five times `request`'s. Every delivery and bot turn is one.
   *
   * Every connection goes through the endpoint guard: a host name is resolved by the guard's
   * resolver and refused when it resolves to a refused address (so DNS rebinding cannot pass);
   * a literal address is checked before the request. Redirects are never followed.
   */
  static readonly layer = Layer.effect(
    WebhookClient,
    Effect.gen(function* () {
      const settings = yield* DeliverySettings
      const guard = yield* EndpointGuard.EndpointGuard
      const agent = yield* Effect.acquireRelease(
        Effect.sync(
          () =>
            new Agent({
              connections: 256,
              keepAliveTimeout: 10_000,
              connect: { lookup: EndpointGuard.lookup(guard) }
            })
        ),
        (pool) => Effect.promise(() => pool.close()).pipe(Effect.timeoutOption("1 second"))
      )

      const send = (url: URL, headers: Record<string, string>, body: string, timeout: Duration.Duration) =>
        Effect.callback<WebhookResponse, WebhookRequestFailed>((resume) => {
          /** Set once the answer is given: what undici reports after it changes nothing. */
          let settled = false
          let controller: Dispatcher.DispatchController | undefined
          let status = 0
          let responseHeaders: Record<string, string> = {}
          const chunks: Array<Uint8Array> = []
          let size = 0
          const settle = (answer: Effect.Effect<WebhookResponse, WebhookRequestFailed>) => {
            if (settled) return
            settled = true
            clearTimeout(timer)
            resume(answer)
          }
          const stop = (reason: string) => {
            if (controller !== undefined && !controller.aborted) controller.abort(new Error(reason))
          }
          const answered = (truncated: boolean) =>
            settle(
              Effect.succeed({
                status,
                headers: responseHeaders,
                body: concat(chunks, Math.min(size, settings.maxResponseBytes)),
                truncated
              })
            )
          const timer = setTimeout(() => {
            settle(
              Effect.fail(
                new WebhookRequestFailed({
                  kind: "timeout",
                  message: `no complete answer within ${Duration.format(timeout)}`
                })
              )
            )
            stop("timed out")
          }, Duration.toMillis(timeout))
          agent.dispatch(
            {
              origin: url.origin,
              path: `${url.pathname}${url.search}`,
              method: "POST",
              headers: { ...headers, "content-type": "application/json" },
              body
            },
            {
              onRequestStart: (started) => {
                // Given up on while it waited for a connection: undici drops a request whose
                // handler throws here, before writing it and without closing the connection.
                if (settled) throw new Error("no longer wanted")
                controller = started
              },
              onResponseStart: (_, statusCode, headers) => {
                status = statusCode
                responseHeaders = flatHeaders(headers)
              },
              onResponseData: (_, chunk) => {
                if (settled) return
                chunks.push(chunk)
                size += chunk.length
                // Past the cap: answer with its beginning, and drop the connection rather than read on.
                if (size > settings.maxResponseBytes) {
                  answered(true)
                  stop("answer too long")
                }
              },
              onResponseEnd: () => answered(false),
              onResponseError: (_, cause) =>
                settle(
                  Effect.fail(
                    new WebhookRequestFailed({
                      kind: refusedByGuard(cause) ? "not_allowed" : "network",
                      message: describe(cause)
                    })
                  )
                )
            }
          )
          return Effect.sync(() => {
            settled = true
            clearTimeout(timer)
            stop("interrupted")
          })
        })

      /** The URL, if the service may call it: http(s), and a literal address the guard allows. */
      const target = (url: string): WebhookRequestFailed | URL => {
        const parsed = checkUrl(url)
        if (parsed instanceof WebhookRequestFailed) return parsed
        const problem = EndpointGuard.literalProblem(guard, parsed)
        return problem === undefined
          ? parsed
          : new WebhookRequestFailed({ kind: "not_allowed", message: `endpoint not allowed: ${problem}` })
      }

      const post = Effect.fnUntraced(function* (request: SignedRequest) {
        const url = target(request.url)
        if (url instanceof WebhookRequestFailed) return yield* url
        const timestamp = Math.floor(Date.now() / 1000)
        const signed = WebhookSigner.headers({
          secrets: request.secrets,
          id: request.id,
          timestamp,
          body: request.body
        })
        // The receiver continues the trace: this POST's span is its parent (when traces are recorded).
        const span = yield* Effect.serviceOption(Tracer.ParentSpan)
        const parent = Option.isSome(span) ? traceparent(span.value) : undefined
        const headers = parent === undefined ? signed : { ...signed, traceparent: parent }
        return yield* send(url, headers, request.body, request.timeout ?? settings.requestTimeout)
      }, hotSpan("WebhookClient.post"))

      const postJson = Effect.fnUntraced(function* (request: JsonRequest) {
        const url = target(request.url)
        if (url instanceof WebhookRequestFailed) return yield* url
        return yield* send(
          url,
          { ...request.headers },
          request.body,
          request.timeout ?? settings.requestTimeout
        )
      }, hotSpan("WebhookClient.postJson"))

      return WebhookClient.of({ post, postJson })
    })
  )
}

/**
 * The W3C trace context header naming `span` as the parent of what the request causes. A span that
 * is no trace's (effect's placeholder while traces are not recorded, ids "noop") names its nearest
 * ancestor that is; none when there is no such ancestor.
 */
export const traceparent = (span: Tracer.AnySpan): string | undefined => {
  for (
    let at: Tracer.AnySpan | undefined = span;
    at !== undefined;
    at = at._tag === "Span" ? Option.getOrUndefined(at.parent) : undefined
  ) {
    if (/^[0-9a-f]{32}$/.test(at.traceId) && /^[0-9a-f]{16}$/.test(at.spanId))
      return `00-${at.traceId}-${at.spanId}-${at.sampled ? "01" : "00"}`
  }
  return undefined
}

/** Whether a request failed because the endpoint guard refused the address it resolved to. */
const refusedByGuard = (cause: unknown): boolean => {
  for (let error = cause; error instanceof Error; error = (error as { cause?: unknown }).cause) {
    if (
      error instanceof EndpointGuard.AddressNotAllowed ||
      (error as { code?: unknown }).code === "EADDRNOTALLOWED"
    )
      return true
  }
  return false
}

/** undici's headers as single strings (repeated headers joined, as HTTP allows). */
const flatHeaders = (headers: Record<string, string | Array<string> | undefined>): Record<string, string> => {
  const flat: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(", ") : value
  }
  return flat
}
