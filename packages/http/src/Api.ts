import { HttpApi, OpenApi } from "effect/http-api"
import { BotMessagesApi } from "./api/BotMessagesApi.ts"
import { DeliveriesApi } from "./api/DeliveriesApi.ts"
import { HistoryApi } from "./api/HistoryApi.ts"
import { InstallationsApi } from "./api/InstallationsApi.ts"
import { SystemApi } from "./api/SystemApi.ts"
import { TokensApi } from "./api/TokensApi.ts"
import { openWebhookMessage, WebhooksApi } from "./api/WebhooksApi.ts"
import { version } from "./Version.ts"

/** The one definition the server, `/openapi.json`, `/docs` and the typed client are derived from. */
export class Api extends HttpApi.make("messaging-api")
  .add(WebhooksApi)
  .add(InstallationsApi)
  .add(TokensApi)
  .add(HistoryApi)
  .add(BotMessagesApi)
  .add(DeliveriesApi)
  .add(SystemApi)
  // Name every bad field, not just the first; a field an endpoint does not take is a bad field
  // (400 naming it), as the OpenAPI schemas say (`additionalProperties: false`). The webhook alone
  // ignores extra fields, as the original integration does (WebhooksApi).
  .annotate(HttpApi.PayloadParseOptions, { errors: "all", onExcessProperty: "error" })
  .annotateMerge(
    OpenApi.annotations({
      title: "Messaging API",
      version,
      description:
        "Send user messages to a bot over HTTP; every bot message comes back to your endpoint as a signed POST.",
      transform: openWebhookMessage
    })
  ) {}
