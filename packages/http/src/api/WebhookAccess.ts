import type { Installation } from "@messaging-api/domain"
import { Context } from "effect"
import { HttpApiMiddleware } from "effect/http-api"
import { Forbidden, NotFound, ServiceUnavailable } from "./ApiErrors.ts"
import type { CurrentAccessToken } from "./Authentication.ts"

/** The installation whose webhook was called. */
export class CurrentInstallation extends Context.Service<CurrentInstallation, Installation.Installation>()(
  "@messaging-api/http/CurrentInstallation"
) {}

/**
 * Resolves `{webhookId}` to an installation (404) and checks the token may use it (403), before
 * the body is read.
 */
export class WebhookAccess extends HttpApiMiddleware.Service<
  WebhookAccess,
  { requires: CurrentAccessToken; provides: CurrentInstallation }
>()("@messaging-api/http/WebhookAccess", { error: [NotFound, Forbidden, ServiceUnavailable] }) {}
