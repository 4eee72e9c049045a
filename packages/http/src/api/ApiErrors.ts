import { Schema } from "effect"

/**
 * Every error answers `{ "error": { "code", "message", "details"? } }`. One class per status:
 * the body carries no tag (the tag is omitted when encoding and restored when a client decodes
 * it), so a client tells them apart by status, and callers by `error.code`.
 */

/** One field that failed validation: its dotted path in the body (`body` for the body itself). */
export const FieldIssue = Schema.Struct({ field: Schema.String, message: Schema.String })
export type FieldIssue = typeof FieldIssue.Type

export const ErrorBody = Schema.Struct({
  code: Schema.String,
  message: Schema.String,
  details: Schema.optionalKey(Schema.Json)
})
export type ErrorBody = typeof ErrorBody.Type

export const InvalidRequestBody = Schema.Struct({
  code: Schema.String,
  message: Schema.String,
  details: Schema.optionalKey(Schema.Array(FieldIssue))
})

export class InvalidRequest extends Schema.Error<InvalidRequest>("InvalidRequest")(
  { _tag: Schema.tagDefaultOmit("InvalidRequest"), error: InvalidRequestBody },
  {
    httpApiStatus: 400,
    description: "The body is not valid JSON or a field is wrong; `details` names each field."
  }
) {}

export class Unauthorized extends Schema.Error<Unauthorized>("Unauthorized")(
  { _tag: Schema.tagDefaultOmit("Unauthorized"), error: ErrorBody },
  { httpApiStatus: 401, description: "The bearer token is missing, unknown or revoked." }
) {}

export class Forbidden extends Schema.Error<Forbidden>("Forbidden")(
  { _tag: Schema.tagDefaultOmit("Forbidden"), error: ErrorBody },
  { httpApiStatus: 403, description: "The token is valid but not allowed here." }
) {}

export class NotFound extends Schema.Error<NotFound>("NotFound")(
  { _tag: Schema.tagDefaultOmit("NotFound"), error: ErrorBody },
  { httpApiStatus: 404 }
) {}

export class Conflict extends Schema.Error<Conflict>("Conflict")(
  { _tag: Schema.tagDefaultOmit("Conflict"), error: ErrorBody },
  { httpApiStatus: 409, description: "The messageId was already used with a different body." }
) {}

export class PayloadTooLarge extends Schema.Error<PayloadTooLarge>("PayloadTooLarge")(
  { _tag: Schema.tagDefaultOmit("PayloadTooLarge"), error: ErrorBody },
  { httpApiStatus: 413 }
) {}

export class UnsupportedMediaType extends Schema.Error<UnsupportedMediaType>("UnsupportedMediaType")(
  { _tag: Schema.tagDefaultOmit("UnsupportedMediaType"), error: ErrorBody },
  { httpApiStatus: 415, description: "The body must be `application/json`." }
) {}

export class TooManyRequests extends Schema.Error<TooManyRequests>("TooManyRequests")(
  { _tag: Schema.tagDefaultOmit("TooManyRequests"), error: ErrorBody },
  { httpApiStatus: 429, description: "Over a limit of the caller's (its open live streams)." }
) {}

export class ServiceUnavailable extends Schema.Error<ServiceUnavailable>("ServiceUnavailable")(
  { _tag: Schema.tagDefaultOmit("ServiceUnavailable"), error: ErrorBody },
  { httpApiStatus: 503, description: "The database is unavailable; nothing was written." }
) {}

export const databaseUnavailable = (): ServiceUnavailable =>
  new ServiceUnavailable({
    error: { code: "database_unavailable", message: "the database is unavailable; nothing was written" }
  })

/** The status codes above, with the code a bare response of that status is given. */
export const codeForStatus = (status: number): string => {
  switch (status) {
    case 400:
      return "invalid_request"
    case 401:
      return "unauthorized"
    case 403:
      return "forbidden"
    case 404:
      return "not_found"
    case 405:
      return "method_not_allowed"
    case 409:
      return "conflict"
    case 413:
      return "payload_too_large"
    case 415:
      return "unsupported_media_type"
    case 429:
      return "too_many_requests"
    case 503:
      return "service_unavailable"
    default:
      return status >= 500 ? "internal_error" : "request_failed"
  }
}
