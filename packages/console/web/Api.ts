import { type Client, makeClient } from "@messaging-api/http/Client"
import { Cause, Effect, Exit, Fiber, ManagedRuntime } from "effect"
import { FetchHttpClient, type HttpClient } from "effect/http"

/**
 * The console speaks to the service through the same typed HttpApi client as every other caller
 * (`@messaging-api/http/Client`), over the browser's fetch. Each call answers a `Reply`: the value,
 * or what went wrong in words for the page to show.
 */

const runtime = ManagedRuntime.make(FetchHttpClient.layer)

export type Reply<A> =
  | { readonly ok: true; readonly value: A }
  | { readonly ok: false; readonly message: string; readonly status?: number }

interface ErrorBody {
  readonly code: string
  readonly message: string
  readonly details?: unknown
}

const hasErrorBody = (error: unknown): error is { readonly error: ErrorBody } =>
  typeof error === "object" &&
  error !== null &&
  "error" in error &&
  typeof error.error === "object" &&
  error.error !== null &&
  "message" in error.error &&
  typeof error.error.message === "string"

const statusOf: Record<string, number> = {
  InvalidRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  TooManyRequests: 429,
  ServiceUnavailable: 503
}

const tagOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : undefined

/** Field issues (`details: [{ field, message }]`) as "field: message" lines. */
const detailLines = (details: unknown): ReadonlyArray<string> =>
  Array.isArray(details)
    ? details.flatMap((detail: unknown) =>
        typeof detail === "object" && detail !== null && "field" in detail && "message" in detail
          ? [`${String(detail.field)}: ${String(detail.message)}`]
          : []
      )
    : []

/** What the page says when a call fails: the API's own message, and each bad field. */
export const describeError = (error: unknown): { readonly message: string; readonly status?: number } => {
  const tag = tagOf(error)
  const status = tag === undefined ? undefined : statusOf[tag]
  if (hasErrorBody(error)) {
    const lines = detailLines(error.error.details)
    const message = `${error.error.message}${lines.length > 0 ? ` (${lines.join("; ")})` : ""}`
    return status === undefined ? { message } : { message, status }
  }
  if (tag === "HttpClientError" || tag === "TransportError") {
    return { message: "The service could not be reached. Check that it is running and try again." }
  }
  if (tag === "SchemaError" || tag === "DecodeError") {
    return { message: "The service answered something this console does not understand." }
  }
  return { message: error instanceof Error ? error.message : String(error) }
}

/** The typed client for this origin, sending `token`. */
export const clientFor = (token: string): Effect.Effect<Client, never, HttpClient.HttpClient> =>
  makeClient({ baseUrl: window.location.origin, token })

/** Runs one call with the signed-in token. */
export const call = async <A, E>(
  token: string,
  f: (client: Client) => Effect.Effect<A, E, HttpClient.HttpClient>
): Promise<Reply<A>> => {
  const exit = await runtime.runPromiseExit(Effect.flatMap(clientFor(token), f))
  if (Exit.isSuccess(exit)) return { ok: true, value: exit.value }
  if (Cause.hasInterruptsOnly(exit.cause)) return { ok: false, message: "The request was cancelled." }
  return { ok: false, ...describeError(Cause.squash(exit.cause)) }
}

/** Runs a long-lived effect (a live stream); the function returned stops it. */
export const start = (effect: Effect.Effect<void, never, HttpClient.HttpClient>): (() => void) => {
  const fiber = runtime.runFork(effect)
  return () => {
    runtime.runFork(Fiber.interrupt(fiber))
  }
}
