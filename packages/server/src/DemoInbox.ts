import { Context, Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"

/**
 * The response endpoint of the first-start demo: replies to the demo installation land here,
 * are printed to the console, and the last hundred can be read back with `GET /demo/inbox`.
 * It is a stand-in for the application's own endpoint, nothing more.
 */
export class DemoInbox extends Context.Service<
  DemoInbox,
  { readonly received: ReadonlyArray<unknown>; record(body: unknown): Effect.Effect<void> }
>()("@messaging-api/server/DemoInbox") {
  static readonly layer = Layer.sync(DemoInbox, () => {
    const received: Array<unknown> = []
    return DemoInbox.of({
      received,
      record: (body) =>
        Effect.sync(() => {
          received.push(body)
          if (received.length > 100) received.shift()
        })
    })
  })
}

export const path = "/demo/inbox"

export const routes = Layer.mergeAll(
  HttpRouter.add(
    "POST",
    path,
    Effect.gen(function* () {
      const inbox = yield* DemoInbox
      const request = yield* HttpServerRequest.HttpServerRequest
      const body = yield* request.json.pipe(Effect.orElseSucceed(() => null))
      yield* inbox.record(body)
      yield* Effect.logInfo(`demo inbox received: ${JSON.stringify(body)}`)
      return HttpServerResponse.empty({ status: 204 })
    })
  ),
  HttpRouter.add(
    "GET",
    path,
    Effect.gen(function* () {
      const inbox = yield* DemoInbox
      return yield* HttpServerResponse.json({ received: inbox.received })
    })
  )
)
