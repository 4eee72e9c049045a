import { Cause, Effect, type Types } from "effect"
import { HttpRouter, HttpServerError, HttpServerResponse } from "effect/http"
import { codeForStatus } from "../api/ApiErrors.ts"

/**
 * The last line: whatever the API did not answer itself (no such route, a defect, a bare status
 * from the framework) still answers `{ "error": { "code", "message" } }`.
 */

const defaultMessage = (status: number): string => {
  switch (status) {
    case 404:
      return "no such route"
    case 405:
      return "method not allowed"
    case 413:
      return "the body is too large"
    default:
      return status >= 500 ? "internal error" : `request failed with status ${status}`
  }
}

const isJsonBody = (response: HttpServerResponse.HttpServerResponse): boolean =>
  response.body._tag !== "Empty" && (response.body.contentType ?? "").startsWith("application/json")

/** A bare or plain-text error response, rewritten in our shape with the same status and headers. */
export const toErrorShape = (
  response: HttpServerResponse.HttpServerResponse
): HttpServerResponse.HttpServerResponse => {
  if (response.status < 400 || isJsonBody(response)) return response
  const text = response.body._tag === "Uint8Array" ? (response.body.text ?? "") : ""
  return HttpServerResponse.jsonUnsafe(
    {
      error: {
        code: codeForStatus(response.status),
        message: text === "" ? defaultMessage(response.status) : text
      }
    },
    { status: response.status, headers: response.headers }
  )
}

const fromCause = (cause: Cause.Cause<unknown>) =>
  HttpServerError.causeResponse(cause).pipe(
    Effect.tap(([response]) =>
      response.status >= 500 && response.status !== 503
        ? Effect.logError("request failed", Cause.pretty(cause))
        : Effect.void
    ),
    Effect.map(([response]) => response)
  )

export const ErrorResponsesLayer = HttpRouter.middleware(
  // Every failure becomes a response here; the type keeps `unhandled` as the router requires.
  (httpEffect): Effect.Effect<HttpServerResponse.HttpServerResponse, Types.unhandled> =>
    httpEffect.pipe(Effect.catchCause(fromCause), Effect.map(toErrorShape)),
  { global: true }
)
