import { createServer, STATUS_CODES } from "node:http"
import type { Duplex } from "node:stream"
import { NodeHttpServer } from "@effect/platform-node"
import { ConsoleAssets, ConsoleRoutes } from "@messaging-api/console"
import { Conversations } from "@messaging-api/delivery/Conversations"
import * as DeliverySettings from "@messaging-api/delivery/DeliverySettings"
import * as EndpointVerifier from "@messaging-api/delivery/EndpointVerifier"
import { AccessTokens, EventStore, Installations, Projector, RetrySchedule } from "@messaging-api/domain"
import { HttpApp, HttpSettings } from "@messaging-api/http"
import { Console, Duration, Effect, Layer, Option, Redacted, References } from "effect"
import { Command } from "effect/cli"
import { HttpRouter, HttpServer } from "effect/http"
import { DatabaseWithConfig } from "../DatabaseLive.ts"
import * as DemoInbox from "../DemoInbox.ts"
import { EndpointGuardLive, ServerConfig, type ServerConfigShape } from "../ServerConfig.ts"

/** `messaging-api serve`: the HTTP API and the delivery engine, until SIGTERM/SIGINT. */

/**
 * The delivery engine: conversation actors, bots, the deliverer and the recovery sweep, with a
 * pooled keep-alive HTTP client. Closing it (SIGTERM) drains in-flight attempts first.
 */
const DeliveryLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ServerConfig
    return Layer.merge(Conversations.layer, EndpointVerifier.layerWithOwnClient).pipe(
      Layer.provide(
        Layer.succeed(
          DeliverySettings.DeliverySettings,
          DeliverySettings.make({
            requestTimeout: config.requestTimeout,
            passivateAfter: config.passivateAfter,
            endpointPauseAfter: config.endpointPauseAfter,
            drainTimeout: config.shutdownTimeout
          })
        )
      )
    )
  })
)

const HttpLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ServerConfig
    return HttpRouter.serve(Layer.mergeAll(HttpApp.routes, DemoInbox.routes, ConsoleRoutes.routes), {
      disableListenLog: true,
      disableLogger: true
    }).pipe(
      Layer.provide(HttpApp.services),
      Layer.provide(
        HttpSettings.layer({
          publicUrl: config.publicUrl,
          maxBodyBytes: config.maxBodyBytes,
          heartbeatInterval: config.sseHeartbeat,
          minRetryDelay: config.minRetryDelay,
          maxStreamsPerToken: config.maxStreamsPerToken,
          rateLimitPerToken: config.rateLimitPerToken,
          authFailuresPerIp: config.authFailuresPerIp,
          secretRotationOverlap: config.secretRotationOverlap
        })
      ),
      Layer.provideMerge(
        NodeHttpServer.layer(() => slowClientGuard(config), { port: config.port, host: config.host })
      )
    )
  })
)

/**
 * The HTTP server, bounding slow clients: the headers within `REQUEST_HEADERS_TIMEOUT`, the whole
 * request within `REQUEST_BODY_TIMEOUT` (408 `request_timeout`, and the connection is closed), so a client
 * that sends a request slowly, or half of it, does not hold a connection for long. Node checks
 * open connections at a fraction of the shorter limit.
 */
const slowClientGuard = (config: ServerConfigShape) => {
  const headers = Duration.toMillis(config.requestHeadersTimeout)
  const body = Math.max(headers, Duration.toMillis(config.requestBodyTimeout))
  const server = createServer({
    headersTimeout: headers,
    requestTimeout: body,
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(headers / 4)))
  })
  // What Node answers on its own (a timeout, a malformed request) also answers in our error shape.
  server.on(
    "clientError",
    (error: NodeJS.ErrnoException, socket: Duplex & { _httpMessage?: { headersSent?: boolean } }) => {
      if (!socket.writable || socket._httpMessage?.headersSent === true) {
        socket.destroy()
        return
      }
      const [status, code, message] =
        error.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? [408, "request_timeout", "the request was not received in time"]
          : error.code === "HPE_HEADER_OVERFLOW"
            ? [431, "headers_too_large", "the request headers are too large"]
            : [400, "invalid_request", "a malformed HTTP request"]
      const json = JSON.stringify({ error: { code, message } })
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`
      )
    }
  )
  return server
}

/** MESSAGING_API_ADMIN_TOKEN becomes an admin token (and replaces the one seeded before it). */
const seedAdminToken = Effect.gen(function* () {
  const config = yield* ServerConfig
  if (Option.isNone(config.adminToken)) return
  const tokens = yield* AccessTokens.AccessTokens
  yield* tokens.ensureSeeded(Redacted.value(config.adminToken.value))
})

/**
 * First start on the embedded database with nothing installed: an echo installation whose
 * replies go to this process's own demo inbox, a token for it, and a curl line to paste.
 */
const startDemo = Effect.gen(function* () {
  const config = yield* ServerConfig
  if (Option.isSome(config.databaseUrl)) return
  const installations = yield* Installations.Installations
  if ((yield* installations.list).length > 0) return
  const server = yield* HttpServer.HttpServer
  const port = server.address._tag === "UnixPathAddress" ? config.port : server.address.port
  const installation = yield* installations.create({
    bot: { _tag: "echo" },
    responseUrl: `http://127.0.0.1:${port}${DemoInbox.path}`,
    retrySchedule: RetrySchedule.defaultRetrySchedule
  })
  const tokens = yield* AccessTokens.AccessTokens
  const created = yield* tokens.create({ name: "demo", admin: false, installationIds: [installation.id] })
  const body = JSON.stringify({
    userId: "user-1",
    messageId: "message-1",
    conversationId: "conversation-1",
    type: "text",
    text: "Hello, bot!"
  })
  yield* Console.log(
    [
      "",
      "First start: a demo installation (echo bot) was created. Send it a message:",
      "",
      `  curl -X POST ${config.publicUrl}/webhooks/${installation.webhookId} \\`,
      `    -H 'Authorization: Bearer ${created.token}' \\`,
      `    -H 'Content-Type: application/json' \\`,
      `    -d '${body}'`,
      "",
      `The bot's reply is POSTed to this server's demo inbox: it is printed here, and`,
      `  curl ${config.publicUrl}${DemoInbox.path}`,
      "lists the replies received so far. The token above is shown once.",
      ""
    ].join("\n")
  )
})

const announce = Effect.gen(function* () {
  const config = yield* ServerConfig
  const server = yield* HttpServer.HttpServer
  yield* Effect.logInfo(
    `messaging-api listening on ${HttpServer.formatAddress(server.address)} (public URL ${config.publicUrl}); ` +
      (Option.isSome(config.databaseUrl)
        ? "database: DATABASE_URL"
        : `database: embedded Postgres in ${config.dataDir} (single process)`)
  )
})

export const ServeLive = Layer.effectDiscard(Effect.all([announce, startDemo], { discard: true })).pipe(
  Layer.provideMerge(HttpLive),
  // Seeded before the server listens, so a ready server already accepts the token.
  Layer.provideMerge(Layer.effectDiscard(seedAdminToken)),
  Layer.provideMerge(Layer.mergeAll(DeliveryLive, Projector.Projector.layerFollowing())),
  Layer.provideMerge(
    Layer.mergeAll(
      EventStore.EventStore.layer,
      DemoInbox.DemoInbox.layer,
      ConsoleAssets.ConsoleAssets.layer,
      AccessTokens.AccessTokens.layer,
      Installations.Installations.layer
    )
  ),
  Layer.provide(EndpointGuardLive),
  Layer.provideMerge(DatabaseWithConfig)
)

const logLevel = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ServerConfig
    return Layer.succeed(References.MinimumLogLevel, config.logLevel)
  })
)

export const serveCommand = Command.make("serve", {}, () =>
  Layer.launch(ServeLive).pipe(Effect.provide(Layer.provide(logLevel, ServerConfig.layer)))
).pipe(Command.withDescription("Serve the HTTP API and deliver bot replies (applies migrations first)"))
