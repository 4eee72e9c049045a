import { createServer, STATUS_CODES } from "node:http"
import type { Duplex } from "node:stream"
import { NodeHttpServer } from "@effect/platform-node"
import { ConsoleAssets, ConsoleRoutes } from "@messaging-api/console"
import * as Conversations from "@messaging-api/delivery/Conversations"
import * as Deliveries from "@messaging-api/delivery/Deliveries"
import * as DeliverySettings from "@messaging-api/delivery/DeliverySettings"
import * as EndpointVerifier from "@messaging-api/delivery/EndpointVerifier"
import * as SocketCluster from "@messaging-api/delivery/SocketCluster"
import { AccessTokens, EventStore, Installations, Projector, RetrySchedule } from "@messaging-api/domain"
import { HttpApp, HttpSettings } from "@messaging-api/http"
import { Console, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { Command } from "effect/cli"
import { Sharding } from "effect/cluster"
import { HttpRouter, HttpServer } from "effect/http"
import { DatabaseWithConfig } from "../DatabaseLive.ts"
import * as DemoInbox from "../DemoInbox.ts"
import * as IdleMemory from "../IdleMemory.ts"
import { ObservabilityLive } from "../Observability.ts"
import { EndpointGuardLive, ServerConfig, type ServerConfigShape } from "../ServerConfig.ts"

/** `messaging-api serve`: the HTTP API and the delivery engine, until SIGTERM/SIGINT. */

/**
 * The delivery engine: conversation actors, bots, the deliverer and the recovery sweep, with a
 * pooled keep-alive HTTP client, and the read-model projector. It answers the domain's ports the
 * HTTP API asks (`Conversations`, `Deliveries`, `EndpointVerifier`): this is where the two meet.
 * Closing it (SIGTERM) drains in-flight attempts first.
 * - Alone (no `CLUSTER_PORT`): the actors in this process (`LocalActors`, no cluster), the log
 *   followers too.
 * - A runner (`CLUSTER_PORT`): the actors of the shards this runner holds, any conversation
 *   reached through the cluster; the log followers are cluster singletons (one for all runners).
 *   Closing it drains, then hands this runner's shards off.
 */
const DeliveryLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ServerConfig
    const settings = Layer.succeed(
      DeliverySettings.DeliverySettings,
      DeliverySettings.make({
        requestTimeout: config.requestTimeout,
        passivateAfter: config.passivateAfter,
        endpointPauseAfter: config.endpointPauseAfter,
        drainTimeout: config.shutdownTimeout
      })
    )
    if (Option.isNone(config.clusterPort)) {
      return Layer.mergeAll(
        Conversations.layer,
        Deliveries.layer,
        EndpointVerifier.layerWithOwnClient,
        Projector.Projector.layerFollowing()
      ).pipe(Layer.provide(settings))
    }
    return Layer.mergeAll(
      Conversations.layerOnShardingWithBots,
      Deliveries.layer,
      EndpointVerifier.layerWithOwnClient,
      ReadModelsSingleton
    ).pipe(
      Layer.provide(settings),
      Layer.provideMerge(
        SocketCluster.layer({
          listenHost: config.host,
          port: config.clusterPort.value,
          advertiseHost: config.clusterAdvertiseHost,
          shards: config.clusterShards,
          lease: config.clusterLease
        })
      )
    )
  })
)

/** The read-model projector, following the log on one runner of the cluster at a time. */
const ReadModelsSingleton = Layer.effectDiscard(
  Effect.gen(function* () {
    const projector = yield* Projector.Projector
    const sharding = yield* Sharding.Sharding
    yield* sharding.registerSingleton("read-models", Projector.keepFollowing(projector))
  })
).pipe(Layer.provideMerge(Projector.Projector.layer))

/** `CLUSTER_PORT` with the embedded database: refused, the embedded Postgres serves one process. */
export class ClusterNeedsPostgres extends Schema.TaggedError<ClusterNeedsPostgres>()("ClusterNeedsPostgres", {
  message: Schema.String
}) {}

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
          secretRotationOverlap: config.secretRotationOverlap,
          databaseTimeout: config.databaseStatementTimeout,
          metricsPublic: config.metricsPublic
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
 * open connections at a fraction of the shorter limit. At most `MAX_CONNECTIONS` are open at once.
 */
const slowClientGuard = (config: ServerConfigShape) => {
  const headers = Duration.toMillis(config.requestHeadersTimeout)
  const body = Math.max(headers, Duration.toMillis(config.requestBodyTimeout))
  const server = createServer({
    headersTimeout: headers,
    requestTimeout: body,
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(headers / 4)))
  })
  // Past MAX_CONNECTIONS, new connections are closed at once: the process keeps file descriptors
  // for Postgres, deliveries and its health checks however many clients hold connections open.
  server.maxConnections = config.maxConnections
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
  // Without MESSAGING_API_ADMIN_TOKEN there is no way into the /v1 API yet: one admin token, shown once.
  const admin = Option.isNone(config.adminToken)
    ? yield* tokens.create({ name: "first-run admin", admin: true, installationIds: null })
    : undefined
  const body = JSON.stringify({
    userId: "user-1",
    messageId: "message-1",
    conversationId: "conversation-1",
    type: "text",
    text: "Hello, bot!"
  })
  // LOG_FORMAT=json keeps every line JSON: the same text as one log entry.
  const print = (text: string) => (config.logFormat === "json" ? Effect.logInfo(text) : Console.log(text))
  yield* print(
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
      "",
      ...(admin === undefined
        ? ["The admin API and the CLI use the token in MESSAGING_API_ADMIN_TOKEN."]
        : [
            "An admin token for the /v1 API (the README's $ADMIN_TOKEN), also shown once:",
            "",
            `  export ADMIN_TOKEN=${admin.token}`,
            `  curl ${config.publicUrl}/v1/installations -H "Authorization: Bearer $ADMIN_TOKEN"`,
            "",
            `(revoke it with \`messaging-api tokens revoke ${admin.accessToken.id}\` once you set MESSAGING_API_ADMIN_TOKEN)`
          ]),
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
        : `database: embedded Postgres in ${config.dataDir} (single process)`) +
      (Option.isSome(config.clusterPort)
        ? `; cluster runner ${config.clusterAdvertiseHost}:${config.clusterPort.value} (${config.clusterShards} shards)`
        : "")
  )
})

export const ServeLive = Layer.effectDiscard(Effect.all([announce, startDemo], { discard: true })).pipe(
  Layer.provideMerge(HttpLive),
  Layer.provideMerge(IdleMemory.layer),
  // Seeded before the server listens, so a ready server already accepts the token.
  Layer.provideMerge(Layer.effectDiscard(seedAdminToken)),
  Layer.provideMerge(DeliveryLive),
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

/** A runner of a cluster shares one Postgres server with the others; the embedded one is not shared. */
const checkClusterDatabase = Effect.gen(function* () {
  const config = yield* ServerConfig
  if (Option.isSome(config.clusterPort) && Option.isNone(config.databaseUrl)) {
    return yield* new ClusterNeedsPostgres({
      message:
        "CLUSTER_PORT needs DATABASE_URL (a Postgres server all runners share); the embedded database runs one process only"
    })
  }
})

export const serveCommand = Command.make("serve", {}, () =>
  checkClusterDatabase.pipe(
    Effect.andThen(Layer.launch(ServeLive)),
    Effect.provide(Layer.merge(ServerConfig.layer, Layer.provide(ObservabilityLive, ServerConfig.layer)))
  )
).pipe(Command.withDescription("Serve the HTTP API and deliver bot replies (applies migrations first)"))
