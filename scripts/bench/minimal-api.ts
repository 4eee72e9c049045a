/**
 * The webhook endpoint as effect's `HttpApi` alone serves it: the same route, the same payload and
 * answer schemas (`WebhookMessage`, `ReceivedMessage`) and the same parse options as the service's
 * webhook, with a handler that answers at once and no middleware, on the same Node HTTP server.
 * `http-path.ts` runs it beside the service, to tell what the framework costs a request from
 * what the service's own request path adds. `GET /healthz` answers for the bench's start-up check.
 *   PORT=… node scripts/bench/minimal-api.ts
 */
import { createServer } from "node:http"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { ReceivedMessage, WebhookMessage } from "@messaging-api/http/api/WebhooksApi"
import { Effect, Layer, Schema } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"

const Webhooks = HttpApiGroup.make("webhooks")
  .add(
    HttpApiEndpoint.post("receive", "/webhooks/:webhookId", {
      params: { webhookId: Schema.String },
      payload: WebhookMessage,
      success: ReceivedMessage
    })
  )
  .add(HttpApiEndpoint.get("health", "/healthz", { success: Schema.Struct({ status: Schema.String }) }))
  .annotate(HttpApi.PayloadParseOptions, { errors: "all", onExcessProperty: "ignore" })

const Api = HttpApi.make("minimal").add(Webhooks)

const Handlers = HttpApiBuilder.group(Api, "webhooks", (handlers) =>
  handlers
    .handle("receive", ({ payload }) => {
      const tags = { id: payload.messageId }
      return Effect.succeed({
        message: {
          id: payload.messageId,
          messageId: payload.messageId,
          conversationId: payload.conversationId,
          userId: payload.userId,
          type: payload.type,
          text: payload.text,
          payload: { text: payload.text },
          tags
        },
        user: { id: payload.userId, tags: { id: payload.userId } },
        conversation: { id: payload.conversationId, tags: { id: payload.conversationId } },
        duplicate: true as const
      })
    })
    .handle("health", () => Effect.succeed({ status: "ok" }))
)

const port = Number(process.env.PORT ?? "0")
NodeRuntime.runMain(
  Layer.launch(
    HttpRouter.serve(HttpApiBuilder.layer(Api).pipe(Layer.provide(Handlers)), {
      disableLogger: true,
      disableListenLog: true
    }).pipe(Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })))
  )
)
