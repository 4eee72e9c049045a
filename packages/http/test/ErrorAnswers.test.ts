import { NodeHttpPlatform, NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import {
  AccessTokens,
  ConversationCommands,
  Conversations,
  EndpointVerifier,
  Installations,
  MessagePayload,
  ReadModels
} from "@messaging-api/domain"
import { Effect, Layer, Schema } from "effect"
import { Etag } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpApiTest } from "effect/http-api"
import { SqlError } from "effect/sql"
import {
  Conflict,
  InvalidRequest,
  NotFound,
  ServiceUnavailable,
  TooManyRequests,
  Unauthorized
} from "../src/api/ApiErrors.ts"
import { InvalidInstallation } from "../src/InstallationSetup.ts"
import { answer, answering } from "../src/server/ErrorAnswers.ts"
import { TooManyStreams } from "../src/server/EventStreams.ts"

/**
 * The one table of which error answers which status and code, and `answering`, which applies it
 * to a group's handlers. The API's own tests assert the answers on the wire; these pin the table
 * (codes those tests do not ask for, such as `token_not_found`, included) and run a group through
 * effect's in-memory client.
 */

const cases = [
  [
    new SqlError.SqlError({ reason: new SqlError.ConnectionError({ cause: new Error("down") }) }),
    ServiceUnavailable,
    "database_unavailable"
  ],
  [
    new Conversations.ConversationUnavailable({ message: "the log is unreachable" }),
    ServiceUnavailable,
    "conversation_unavailable"
  ],
  [new AccessTokens.InvalidAccessToken(), Unauthorized, "invalid_token"],
  [new Installations.InstallationNotFound({ id: "i-1" }), NotFound, "installation_not_found"],
  [new AccessTokens.AccessTokenNotFound({ id: "t-1" }), NotFound, "token_not_found"],
  [new ReadModels.ConversationNotFound({ conversationId: "c-1" }), NotFound, "conversation_not_found"],
  [new ReadModels.MessageNotFound({ messageId: "m-1" }), NotFound, "message_not_found"],
  [new ConversationCommands.UnknownBotMessage({ messageId: "m-1" }), NotFound, "message_not_found"],
  [
    new ConversationCommands.NotDeadLettered({ messageId: "m-1", status: "delivered" }),
    Conflict,
    "not_dead_lettered"
  ],
  [new ConversationCommands.MessageIdReused({ externalMessageId: "x-1" }), Conflict, "message_id_reused"],
  [
    new MessagePayload.InvalidMessagePayload({ type: "image", message: "imageUrl is missing" }),
    InvalidRequest,
    "invalid_payload"
  ],
  [new ReadModels.InvalidCursor({ message: "garbled" }), InvalidRequest, "invalid_cursor"],
  [new AccessTokens.AdminTokenRestricted(), InvalidRequest, "admin_token_restricted"],
  [
    new InvalidInstallation({
      code: "endpoint_not_allowed",
      field: "responseUrl",
      message: "a private address"
    }),
    InvalidRequest,
    "endpoint_not_allowed"
  ],
  [
    new EndpointVerifier.EndpointVerificationFailed({ url: "http://127.0.0.1:1/", reason: "refused" }),
    InvalidRequest,
    "response_endpoint_unverified"
  ],
  [new TooManyStreams({ limit: 3 }), TooManyRequests, "too_many_streams"]
] as const

describe("error answers", () => {
  it("answers each error of the domain with its status's class and its code", () => {
    for (const [error, status, code] of cases) {
      const answered = answer(error)
      assert.isTrue(answered instanceof status, `${error._tag} answers ${status.name}`)
      assert.strictEqual(answered.error.code, code, error._tag)
    }
  })

  it("names what was not found, and the field of a bad request, from the error", () => {
    assert.strictEqual(
      answer(new ReadModels.ConversationNotFound({ conversationId: "c-1" })).error.message,
      "no conversation c-1"
    )
    assert.deepStrictEqual(
      answer(new MessagePayload.InvalidMessagePayload({ type: "image", message: "imageUrl is missing" }))
        .error.details,
      [{ field: "payload", message: "imageUrl is missing" }]
    )
  })

  it("leaves an error it has no answer for as it is", () => {
    const already = new NotFound({ error: { code: "webhook_not_found", message: "no webhook w-1" } })
    assert.strictEqual(answer(already), already)
    const other = new Error("not ours")
    assert.strictEqual(answer(other), other)
  })

  it.effect("answers what the handlers of a group fail with, as their endpoints declare it", () =>
    Effect.gen(function* () {
      const client = yield* HttpApiTest.groups(ThingsApi, ["things"])
      const notFound = yield* Effect.flip(client.things.get({ params: { id: "i-1" } }))
      assert.instanceOf(notFound, NotFound)
      assert.deepStrictEqual(notFound.error, {
        code: "installation_not_found",
        message: "no installation i-1"
      })
      const unavailable = yield* Effect.flip(client.things.list())
      assert.instanceOf(unavailable, ServiceUnavailable)
      assert.strictEqual(unavailable.error.code, "database_unavailable")
    }).pipe(Effect.provide(ThingsLayer))
  )
})

/** A group of two endpoints, one registered with `handle` and one with `handleAll`. */
class ThingsApi extends HttpApi.make("things").add(
  HttpApiGroup.make("things").add(
    HttpApiEndpoint.get("get", "/things/:id", {
      params: { id: Schema.String },
      success: Schema.String,
      error: [NotFound, ServiceUnavailable]
    }),
    HttpApiEndpoint.get("list", "/things", {
      success: Schema.Array(Schema.String),
      error: ServiceUnavailable
    })
  )
) {}

const databaseDown = new SqlError.SqlError({
  reason: new SqlError.ConnectionError({ cause: new Error("down") })
})

const ThingsHandlers = HttpApiBuilder.group(ThingsApi, "things", (handlers) =>
  answering(handlers)
    .handle("get", ({ params }) => Effect.fail(new Installations.InstallationNotFound({ id: params.id })))
    .handleAll({ list: () => Effect.fail(databaseDown) })
)

const ThingsLayer = Layer.mergeAll(ThingsHandlers, NodeHttpPlatform.layer, NodeServices.layer, Etag.layer)

// Checked by the compiler: a handler may fail only with errors whose status its endpoint declares.
export const undeclared = HttpApiBuilder.group(ThingsApi, "things", (handlers) =>
  answering(handlers).handleAll({
    get: () => Effect.fail(new Installations.InstallationNotFound({ id: "i-1" })),
    // @ts-expect-error InstallationNotFound answers 404, which GET /things does not declare
    list: () => Effect.fail(new Installations.InstallationNotFound({ id: "i-1" }))
  })
)
