import { randomUUID } from "node:crypto"
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import * as Conversations from "@messaging-api/delivery/Conversations"
import * as Deliveries from "@messaging-api/delivery/Deliveries"
import * as DeliverySettings from "@messaging-api/delivery/DeliverySettings"
import * as EndpointVerifier from "@messaging-api/delivery/EndpointVerifier"
import {
  AccessTokens,
  Database,
  EndpointGuard,
  EventStore,
  type Ids,
  Installations
} from "@messaging-api/domain"
import { makeClient } from "@messaging-api/http/Client"
import { makeHttpLayer } from "@messaging-api/http/HttpApp"
import type { HttpSettingsShape } from "@messaging-api/http/HttpSettings"
import { Context, Duration, Effect, Layer, References } from "effect"
import { FetchHttpClient, HttpServer } from "effect/http"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { type Arrival, startReceiver } from "./LoopbackReceiver.ts"

/**
 * The real server on 127.0.0.1 (port 0) over the run's Postgres, with a real response endpoint
 * beside it: `/ok` answers 200, `/fail` answers 500.
 */

export class Receiver extends Context.Service<
  Receiver,
  { readonly url: string; readonly received: ReadonlyArray<Arrival> }
>()("test/Receiver") {
  static readonly layer = Layer.effect(
    Receiver,
    // "/fail" answers 500, "/redirect" a 307 to "/ok", anything else 200.
    startReceiver(({ path }) =>
      path === "/fail"
        ? { status: 500 }
        : path === "/redirect"
          ? { status: 307, headers: { location: "/ok" } }
          : { status: 200 }
    ).pipe(Effect.map(({ url, arrivals }) => Receiver.of({ url, received: arrivals })))
  )
}

/** The endpoint guard with loopback opened, as `ALLOWED_ENDPOINT_NETWORKS=127.0.0.0/8` opens it: receivers live there. */
export const loopbackGuard = EndpointGuard.layer({ allowedNetworks: ["127.0.0.0/8"] })

/** The server as the server package composes it, over the database at `databaseUrl`. */
export const makeTestLayer = (
  databaseUrl: string,
  settings: Partial<HttpSettingsShape> = {},
  guard: Layer.Layer<never> = loopbackGuard
) =>
  makeHttpLayer({
    publicUrl: "https://messaging.example",
    // Tests retry on millisecond schedules, and send bursts from one token and one address.
    minRetryDelay: "1 millis",
    rateLimitPerToken: undefined,
    authFailuresPerIp: undefined,
    ...settings
  }).pipe(
    // The delivery package answers the domain's ports, as the server wires it.
    Layer.provide(
      Layer.mergeAll(Conversations.layerDirect, Deliveries.layer, EndpointVerifier.layerWithOwnClient)
    ),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
    Layer.provideMerge(
      Layer.mergeAll(AccessTokens.AccessTokens.layer, Receiver.layer, FetchHttpClient.layer)
    ),
    Layer.provideMerge(EventStore.EventStore.layer),
    Layer.provideMerge(Database.layer({ url: databaseUrl, maxConnections: 8 })),
    Layer.provide(guard),
    Layer.provide(Layer.succeed(References.MinimumLogLevel, "Warn"))
  )

export const TestLayer = makeTestLayer(inject("databaseUrl"))

/**
 * The server with the real delivery engine behind it (actors, bots, the deliverer, the schedule),
 * resuming only the installations in `mine` (the other test files' conversations are theirs).
 */
export const makeEngineTestLayer = (options: {
  readonly mine: ReadonlySet<string>
  readonly settings?: Partial<HttpSettingsShape>
  readonly delivery?: Partial<DeliverySettings.DeliverySettingsShape>
  readonly guard?: Layer.Layer<never>
}) =>
  makeHttpLayer({
    publicUrl: "https://messaging.example",
    minRetryDelay: "1 millis",
    rateLimitPerToken: undefined,
    authFailuresPerIp: undefined,
    ...options.settings
  }).pipe(
    Layer.provide(
      Layer.mergeAll(Conversations.layer, Deliveries.layer, EndpointVerifier.layerWithOwnClient).pipe(
        Layer.provide(
          Layer.succeed(
            DeliverySettings.DeliverySettings,
            DeliverySettings.make({
              onlyInstallations: options.mine,
              requestTimeout: Duration.seconds(2),
              pollInterval: Duration.millis(100),
              drainTimeout: Duration.seconds(1),
              ...options.delivery
            })
          )
        )
      )
    ),
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
    Layer.provideMerge(
      Layer.mergeAll(
        EventStore.EventStore.layer,
        Installations.Installations.layer,
        AccessTokens.AccessTokens.layer,
        FetchHttpClient.layer
      )
    ),
    Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: 8 })),
    Layer.provide(options.guard ?? loopbackGuard),
    Layer.provide(Layer.succeed(References.MinimumLogLevel, "Warn"))
  )

export const baseUrl = HttpServer.HttpServer.pipe(
  Effect.map((server) => HttpServer.formatAddress(server.address).replace(/\/$/, ""))
)

/** A fresh admin token, made directly in the table (the server package seeds one from the environment). */
export const adminToken = Effect.gen(function* () {
  const tokens = yield* AccessTokens.AccessTokens
  const created = yield* tokens.create({ name: "test admin", admin: true, installationIds: null })
  return created.token
})

/** The typed client, as an embedder would use it. */
export const client = (token?: string) =>
  Effect.flatMap(baseUrl, (url) => makeClient({ baseUrl: url, token }))

export interface RawResponse {
  readonly headers: Headers
  readonly status: number
  readonly contentType: string | null
  readonly text: string
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read into arbitrary JSON
  readonly json: any
}

/** A valid webhook body of a new message in a new conversation. */
export const webhookMessage = () => ({
  userId: "user",
  messageId: `message-${randomUUID()}`,
  conversationId: `conversation-${randomUUID()}`,
  type: "text",
  text: "Hello"
})

/** A request exactly as written: no client-side validation, no encoding. */
export const send = (
  method: string,
  path: string,
  init: {
    readonly headers?: Record<string, string>
    readonly body?: RequestInit["body"]
    readonly duplex?: "half"
  } = {}
) =>
  Effect.flatMap(baseUrl, (url) =>
    Effect.promise(async (): Promise<RawResponse> => {
      const response = await fetch(`${url}${path}`, { method, ...init } as RequestInit)
      const text = await response.text()
      let json: unknown = null
      try {
        json = JSON.parse(text)
      } catch {
        json = null
      }
      return {
        status: response.status,
        contentType: response.headers.get("content-type"),
        headers: response.headers,
        text,
        json
      }
    })
  )

export const postJson = (path: string, body: unknown, token?: string) =>
  send("POST", path, {
    headers: {
      "content-type": "application/json",
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` })
    },
    body: JSON.stringify(body)
  })

/** Every event in the conversations of one installation: what "nothing was written" is checked against. */
export const eventCount = (installationId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly n: number }>`
      SELECT count(*)::int AS n FROM events
      WHERE stream_id IN (
        SELECT stream_id FROM events
        WHERE type = 'ConversationStarted' AND data->>'installationId' = ${installationId}
      )
    `
    return rows[0]!.n
  })

/** An echo installation and a token limited to it. */
export const installationWithToken = Effect.gen(function* () {
  const admin = yield* client(yield* adminToken)
  const receiver = yield* Receiver
  const installation = yield* admin.installations.create({
    payload: { bot: { _tag: "echo" }, responseUrl: `${receiver.url}/ok`, skipVerify: true }
  })
  const created = yield* admin.tokens.create({
    payload: { name: "reader", installationIds: [installation.id] }
  })
  return {
    installationId: installation.id as Ids.InstallationId,
    webhookPath: `/webhooks/${installation.webhookId}`,
    token: created.token
  }
})

export type TestInstallation = Effect.Success<typeof installationWithToken>

/** One user message through the webhook; answers our conversation id. */
export const userMessage = (installation: TestInstallation, conversation: string, text = "hello") =>
  Effect.gen(function* () {
    const response = yield* postJson(
      installation.webhookPath,
      { userId: "user-1", messageId: `m-${randomUUID()}`, conversationId: conversation, type: "text", text },
      installation.token
    )
    if (response.status !== 200)
      return yield* Effect.die(new Error(`webhook answered ${response.status}: ${response.text}`))
    return response.json.conversation.id as Ids.ConversationId
  })
