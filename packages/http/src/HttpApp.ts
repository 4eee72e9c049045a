import {
  AccessTokens,
  ConversationHistory,
  ConversationOwners,
  EndpointHealth,
  Installations
} from "@messaging-api/domain"
import { Layer } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { RateLimiter } from "effect/persistence"
import { Api } from "./Api.ts"
import * as HttpSettings from "./HttpSettings.ts"
import { InstallationSetup } from "./InstallationSetup.ts"
import { AccessLogLayer } from "./server/AccessLog.ts"
import { AdminOnlyLayer, AuthenticationLayer } from "./server/Authentication.ts"
import { BotMessagesHandlers } from "./server/BotMessagesHandlers.ts"
import { ConversationFeed } from "./server/ConversationFeed.ts"
import { DeliveriesHandlers } from "./server/DeliveriesHandlers.ts"
import { ErrorResponsesLayer } from "./server/ErrorResponses.ts"
import { EventStreams } from "./server/EventStreams.ts"
import { HistoryHandlers } from "./server/HistoryHandlers.ts"
import { InstallationsHandlers } from "./server/InstallationsHandlers.ts"
import { MetricsRoute } from "./server/MetricsRoute.ts"
import { RateLimitsLayer } from "./server/RateLimits.ts"
import { RequestDeadlineLayer } from "./server/RequestDeadline.ts"
import { RequestValidationLayer } from "./server/RequestValidation.ts"
import { SystemHandlers } from "./server/SystemHandlers.ts"
import { TokensHandlers } from "./server/TokensHandlers.ts"
import { TurnReplies } from "./server/TurnReplies.ts"
import { WebhookAccessLayer } from "./server/WebhookAccess.ts"
import { WebhookMethodsLayer } from "./server/WebhookMethods.ts"
import { WebhooksHandlers } from "./server/WebhooksHandlers.ts"
import { TokenIssuer } from "./TokenIssuer.ts"

const Middleware = Layer.mergeAll(
  RequestDeadlineLayer,
  AuthenticationLayer,
  AdminOnlyLayer,
  WebhookAccessLayer,
  RequestValidationLayer
)

const Handlers = Layer.mergeAll(WebhooksHandlers, InstallationsHandlers, TokensHandlers, SystemHandlers).pipe(
  Layer.merge(HistoryHandlers),
  Layer.merge(Layer.mergeAll(BotMessagesHandlers, DeliveriesHandlers)),
  Layer.provide(Middleware)
)

/**
 * Every route: the API, `/openapi.json`, the `/docs` page, `/metrics`, an access line per request, and our error shape for whatever the
 * API does not answer itself. Needs a router plus the services below.
 */
export const routes = Layer.mergeAll(
  HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(Layer.provide(Handlers)),
  // The page inlines Scalar's script; without its default fonts it loads nothing from the internet.
  HttpApiScalar.layer(Api, { path: "/docs", scalar: { withDefaultFonts: false } }),
  ErrorResponsesLayer,
  AccessLogLayer,
  MetricsRoute,
  WebhookMethodsLayer,
  RateLimitsLayer.pipe(Layer.provide(RateLimiter.layer), Layer.provide(RateLimiter.layerStoreMemory))
)

/** The services the routes use that this package knows how to build (over a SqlClient and the EventStore). */
export const services = Layer.mergeAll(
  InstallationSetup.layer,
  TokenIssuer.layer,
  EventStreams.layer,
  TurnReplies.layer
).pipe(
  Layer.provideMerge(ConversationFeed.layer),
  Layer.provideMerge(
    Layer.mergeAll(
      Installations.Installations.layer,
      EndpointHealth.EndpointHealth.layer,
      AccessTokens.AccessTokens.layer,
      ConversationHistory.ConversationHistory.layer,
      ConversationOwners.ConversationOwners.layer
    )
  )
)

/**
 * The whole HTTP surface, served. Needs from outside: `HttpServer` (e.g.
 * `NodeHttpServer.layer(createServer, { port, host })`), a `SqlClient` (`Database.layer`), the
 * `EventStore`, and the domain's ports `Conversations`, `Deliveries` and `EndpointVerifier` (the
 * delivery engine implements them; the server wires it in).
 */
export const makeHttpLayer = (settings: Partial<HttpSettings.HttpSettingsShape> = {}) =>
  HttpRouter.serve(routes).pipe(Layer.provide(services), Layer.provide(HttpSettings.layer(settings)))
