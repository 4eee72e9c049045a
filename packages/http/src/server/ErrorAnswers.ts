import type {
  AccessTokens,
  ConversationCommands,
  Conversations,
  EndpointVerifier,
  Installations,
  MessagePayload,
  ReadModels
} from "@messaging-api/domain"
import { Effect, type Schema } from "effect"
import type { HttpApiBuilder, HttpApiEndpoint } from "effect/http-api"
import type { SqlError } from "effect/sql"
import {
  Conflict,
  databaseUnavailable,
  InvalidRequest,
  NotFound,
  ServiceUnavailable,
  TooManyRequests,
  Unauthorized
} from "../api/ApiErrors.ts"
import type { InvalidInstallation } from "../InstallationSetup.ts"
import type { TooManyStreams } from "./EventStreams.ts"

/**
 * Which error of the domain answers which status and code: the one place. Handlers fail with the
 * errors of the services they call; `answering` turns those into the API's errors (one class per
 * status, `ApiErrors`) for every handler of a group, and middleware maps with `answer`. A handler
 * whose endpoint does not declare the status an error answers does not compile.
 */

/** One entry per error tag; each entry's parameter is the error of that tag. */
const table = <
  T extends {
    readonly [Tag in keyof T]: T[Tag] extends (error: infer E extends { readonly _tag: Tag }) => unknown
      ? (error: E) => unknown
      : never
  }
>(
  answers: T
): T => answers

const answers = table({
  SqlError: (_: SqlError.SqlError) => databaseUnavailable(),
  ConversationUnavailable: (error: Conversations.ConversationUnavailable) =>
    new ServiceUnavailable({ error: { code: "conversation_unavailable", message: error.message } }),
  InvalidAccessToken: (_: AccessTokens.InvalidAccessToken) =>
    new Unauthorized({ error: { code: "invalid_token", message: "the access token is unknown or revoked" } }),
  InstallationNotFound: (error: Installations.InstallationNotFound) =>
    new NotFound({ error: { code: "installation_not_found", message: `no installation ${error.id}` } }),
  AccessTokenNotFound: (error: AccessTokens.AccessTokenNotFound) =>
    new NotFound({ error: { code: "token_not_found", message: `no access token ${error.id}` } }),
  ConversationNotFound: (error: ReadModels.ConversationNotFound) =>
    new NotFound({
      error: { code: "conversation_not_found", message: `no conversation ${error.conversationId}` }
    }),
  MessageNotFound: (error: ReadModels.MessageNotFound) =>
    new NotFound({
      error: { code: "message_not_found", message: `no message ${error.messageId} in this conversation` }
    }),
  UnknownBotMessage: (error: ConversationCommands.UnknownBotMessage) =>
    new NotFound({ error: { code: "message_not_found", message: `no bot message ${error.messageId}` } }),
  NotDeadLettered: (error: ConversationCommands.NotDeadLettered) =>
    new Conflict({
      error: {
        code: "not_dead_lettered",
        message: `bot message ${error.messageId} is ${error.status}, not dead-lettered: only dead letters are redelivered`
      }
    }),
  MessageIdReused: (error: ConversationCommands.MessageIdReused) =>
    new Conflict({
      error: {
        code: "message_id_reused",
        message: `messageId ${error.externalMessageId} was already used with a different body`
      }
    }),
  InvalidMessagePayload: (error: MessagePayload.InvalidMessagePayload) =>
    new InvalidRequest({
      error: {
        code: "invalid_payload",
        message: `the payload is not a valid ${error.type} message: ${error.message}`,
        details: [{ field: "payload", message: error.message }]
      }
    }),
  InvalidCursor: (error: ReadModels.InvalidCursor) =>
    new InvalidRequest({
      error: {
        code: "invalid_cursor",
        message: error.message,
        details: [{ field: "cursor", message: error.message }]
      }
    }),
  AdminTokenRestricted: (_: AccessTokens.AdminTokenRestricted) =>
    new InvalidRequest({
      error: {
        code: "admin_token_restricted",
        message: "an admin token cannot be limited to some installations",
        details: [{ field: "installationIds", message: "must be absent or null for an admin token" }]
      }
    }),
  InvalidInstallation: (error: InvalidInstallation) =>
    new InvalidRequest({
      error: {
        code: error.code,
        message:
          error.code === "endpoint_not_allowed"
            ? `${error.field} is not allowed: ${error.message}`
            : `invalid ${error.field}: ${error.message}`,
        details: [{ field: error.field, message: error.message }]
      }
    }),
  EndpointVerificationFailed: (error: EndpointVerifier.EndpointVerificationFailed) =>
    new InvalidRequest({
      error: {
        code: "response_endpoint_unverified",
        message: `the response endpoint did not accept the test message: ${error.reason}`,
        details: [{ field: "responseUrl", message: error.reason }]
      }
    }),
  TooManyStreams: (error: TooManyStreams) =>
    new TooManyRequests({
      error: {
        code: "too_many_streams",
        message: `this token already holds ${error.limit} open live streams; close one first`
      }
    })
})

type Answers = typeof answers
type Tag = keyof Answers

/** An error the table answers. */
type Answerable = Parameters<Answers[Tag]>[0]

/** What `answer` makes of an error: its answer when the table has one, the error itself otherwise. */
export type AnswerOf<E> = E extends { readonly _tag: infer T extends Tag } ? ReturnType<Answers[T]> : E

const isAnswerable = (error: unknown): error is Answerable =>
  typeof error === "object" &&
  error !== null &&
  Object.hasOwn(answers, (error as { readonly _tag?: unknown })._tag as PropertyKey)

/** The API's answer to an error of the table; any other error (an API error already) as it is. */
export const answer = <E>(error: E): AnswerOf<E> =>
  (isAnswerable(error) ? answers[error._tag](error as never) : error) as AnswerOf<E>

/** The errors of the table whose answer the endpoint declares (itself or through its middleware). */
type AnswerableBy<Endpoint> = {
  readonly [T in Tag]: ReturnType<Answers[T]> extends HttpApiEndpoint.Errors<Endpoint>
    ? Parameters<Answers[T]>[0]
    : never
}[Tag]

/** The endpoint as a handler registered through `answering` sees it: it may also fail with those. */
type Answering<Endpoint extends HttpApiEndpoint.Constraint> = Omit<Endpoint, "~Error"> & {
  readonly "~Error": Schema.ConstraintCodec<
    Endpoint["~Error"]["Type"] | AnswerableBy<Endpoint>,
    Endpoint["~Error"]["Encoded"],
    Endpoint["~Error"]["DecodingServices"],
    Endpoint["~Error"]["EncodingServices"]
  >
}

type Handler = (request: never) => Effect.Effect<unknown, unknown, unknown>
type Entry = Handler | { readonly handler: Handler; readonly options?: unknown }

/** `Handlers`' registering methods as they run (their types are `Handlers`' own). */
interface Registering {
  handle(identifier: string, handler: Handler, options?: unknown): Registering
  handleAll(entries: Readonly<Record<string, Entry>>): Registering
}

const answered =
  (handler: Handler): Handler =>
  (request) =>
    Effect.mapError(handler(request), answer)

const answeredEntry = (entry: Entry): Entry =>
  typeof entry === "function" ? answered(entry) : { ...entry, handler: answered(entry.handler) }

/**
 * A group's handlers, registered so that each may fail with the errors of the table its endpoint
 * declares the answers of: every failure goes through `answer` on its way out.
 */
export const answering = <
  R,
  Endpoints extends Record<string, HttpApiEndpoint.Constraint>,
  Handled extends keyof Endpoints
>(
  handlers: HttpApiBuilder.Handlers<R, Endpoints, Handled>
): HttpApiBuilder.Handlers<R, { readonly [Id in keyof Endpoints]: Answering<Endpoints[Id]> }, Handled> => {
  // A view of the same handlers: registering here registers there, each handler answered.
  const target = handlers as unknown as Registering
  const view: Registering = Object.create(handlers)
  view.handle = (identifier, handler, options) => {
    target.handle(identifier, answered(handler), options)
    return view
  }
  view.handleAll = (entries) => {
    target.handleAll(
      Object.fromEntries(Object.entries(entries).map(([id, entry]) => [id, answeredEntry(entry)]))
    )
    return view
  }
  return view as unknown as HttpApiBuilder.Handlers<
    R,
    { readonly [Id in keyof Endpoints]: Answering<Endpoints[Id]> },
    Handled
  >
}
