import { HttpApiMiddleware } from "effect/http-api"
import { InvalidRequest, PayloadTooLarge, UnsupportedMediaType } from "./ApiErrors.ts"

/**
 * Request bodies: JSON only (415), at most `maxBodyBytes` (413), and a body that fails its schema
 * answers 400 naming each bad field, in our error shape rather than the framework's empty 400.
 */
export class RequestValidation extends HttpApiMiddleware.Service<RequestValidation>()(
  "@messaging-api/http/RequestValidation",
  { error: [InvalidRequest, PayloadTooLarge, UnsupportedMediaType] }
) {}
