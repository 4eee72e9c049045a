import { HttpApiMiddleware } from "effect/http-api"
import { ServiceUnavailable } from "./ApiErrors.ts"

/**
 * A request waits on the database for at most `DATABASE_STATEMENT_TIMEOUT`; past it, 503
 * `database_unavailable` (retrying is safe).
 */
export class RequestDeadline extends HttpApiMiddleware.Service<RequestDeadline>()(
  "@messaging-api/http/RequestDeadline",
  { error: [ServiceUnavailable] }
) {}
