import { ByteSize, Effect, Layer, SchemaIssue, type Types } from "effect"
import { HttpIncomingMessage, HttpMethod, HttpServerError, HttpServerRequest } from "effect/http"
import { HttpApiError } from "effect/http-api"
import { type FieldIssue, InvalidRequest, PayloadTooLarge, UnsupportedMediaType } from "../api/ApiErrors.ts"
import { RequestValidation } from "../api/RequestValidation.ts"
import { HttpSettings } from "../HttpSettings.ts"

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/** The framework's message for a body that is not JSON at all. */
const notJson = "Expected a valid JSON body"

const slotName = (kind: HttpApiError.HttpApiSchemaError["kind"]): string =>
  kind === "Payload" ? "body" : kind.toLowerCase()

const fieldIssues = (error: HttpApiError.HttpApiSchemaError): ReadonlyArray<FieldIssue> =>
  formatIssues(error.cause.issue).issues.map((issue) => ({
    field:
      issue.path === undefined || issue.path.length === 0
        ? slotName(error.kind)
        : issue.path.map((segment) => String(typeof segment === "object" ? segment.key : segment)).join("."),
    message: issue.message
  }))

const hasNoBody = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const length = request.headers["content-length"]
  return length === undefined ? request.headers["transfer-encoding"] === undefined : Number(length) === 0
}

const invalidRequest = (
  error: HttpApiError.HttpApiSchemaError,
  request: HttpServerRequest.HttpServerRequest
): InvalidRequest => {
  if (error.kind === "Payload" && hasNoBody(request)) {
    return new InvalidRequest({
      error: {
        code: "missing_body",
        message: "a JSON body is required",
        details: [{ field: "body", message: "a JSON body is required" }]
      }
    })
  }
  if (error.kind === "Payload" && error.cause.issue._tag === "InvalidType") {
    // Every body here is an object; say so rather than naming the schema.
    return new InvalidRequest({
      error: {
        code: "invalid_body",
        message: "the body must be a JSON object",
        details: [{ field: "body", message: "Expected a JSON object" }]
      }
    })
  }
  const details = fieldIssues(error)
  if (error.kind === "Payload" && details.length === 1 && details[0]!.message === notJson) {
    return new InvalidRequest({
      error: { code: "invalid_json", message: "the body is not valid JSON", details }
    })
  }
  return new InvalidRequest({
    error: {
      code: error.kind === "Payload" ? "invalid_body" : "invalid_request",
      message: `invalid ${details.map((issue) => issue.field).join(", ")}`,
      details
    }
  })
}

const commonJson = new Set([
  "application/json",
  "application/json; charset=utf-8",
  "application/json;charset=utf-8"
])

/** Why a body of this Content-Type is refused (415), or undefined: JSON in UTF-8 only. */
const mediaTypeProblem = (contentType: string | undefined, contentEncoding: string | undefined) => {
  if (contentType === undefined) return "send Content-Type: application/json"
  // What nearly every client sends, answered without taking the header apart.
  if (contentEncoding === undefined && commonJson.has(contentType)) return undefined
  const [mediaType, ...parameters] = contentType.split(";")
  if (mediaType!.trim().toLowerCase() !== "application/json") {
    return `the body must be application/json, not ${contentType}`
  }
  for (const parameter of parameters) {
    const [name, value] = parameter.split("=")
    const charset = value?.trim().replace(/^"|"$/g, "").toLowerCase()
    if (name?.trim().toLowerCase() === "charset" && charset !== "utf-8" && charset !== "utf8") {
      return `the body must be UTF-8, not ${charset}`
    }
  }
  if (contentEncoding !== undefined && contentEncoding.trim().toLowerCase() !== "identity") {
    return `Content-Encoding ${contentEncoding} is not accepted: send the body uncompressed`
  }
  return undefined
}

const isBodyTooLarge = (defect: unknown): boolean =>
  HttpServerError.isHttpServerError(defect) &&
  defect.reason._tag === "RequestParseError" &&
  defect.reason.reason === "BodyTooLarge"

export const RequestValidationLayer = Layer.effect(
  RequestValidation,
  Effect.gen(function* () {
    const { maxBodyBytes } = yield* HttpSettings
    const maxBodySize = ByteSize.bytes(maxBodyBytes)
    const tooLarge = () =>
      new PayloadTooLarge({
        error: { code: "payload_too_large", message: `the body is larger than ${maxBodyBytes} bytes` }
      })

    return RequestValidation.of(
      Effect.fnUntraced(function* (httpEffect, { endpoint }) {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (endpoint.payload.size > 0 && HttpMethod.hasBody(request.method)) {
          const length = request.headers["content-length"]
          if (length !== undefined && Number(length) > maxBodyBytes) return yield* tooLarge()
          // A request without a body is answered by the payload's own check (400 missing_body).
          const problem = hasNoBody(request)
            ? undefined
            : mediaTypeProblem(request.headers["content-type"], request.headers["content-encoding"])
          if (problem !== undefined) {
            return yield* new UnsupportedMediaType({
              error: { code: "unsupported_media_type", message: problem }
            })
          }
        }
        return yield* httpEffect.pipe(
          Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBodySize),
          Effect.catch(
            (error): Effect.Effect<never, InvalidRequest | Types.unhandled> =>
              HttpApiError.HttpApiSchemaError.is(error) &&
              error.kind !== "Body" &&
              error.kind !== "ResponseHeaders"
                ? Effect.fail(invalidRequest(error, request))
                : Effect.fail(error)
          ),
          Effect.catchDefect((defect) =>
            isBodyTooLarge(defect) ? Effect.fail(tooLarge()) : Effect.die(defect)
          )
        )
      })
    )
  })
)
