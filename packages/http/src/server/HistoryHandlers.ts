import {
  AccessTokens,
  ConversationHistory,
  ConversationOwners,
  Ids,
  InstallationScope,
  Installations,
  ReadModels
} from "@messaging-api/domain"
import { Cache, Effect, Option, Schema } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import type { SqlError } from "effect/sql"
import { Api } from "../Api.ts"
import { InvalidRequest } from "../api/ApiErrors.ts"
import { CurrentAccessToken } from "../api/Authentication.ts"
import { answering } from "./ErrorAnswers.ts"
import { EventStreams, parsePositionId, parseVersionId } from "./EventStreams.ts"

/** What a token may read: every installation (admin tokens, unrestricted tokens) or its own. */
const scopeOf = (token: AccessTokens.AccessToken): InstallationScope.InstallationScope =>
  InstallationScope.ofToken(token)

const decodeInstallationId = Schema.decodeUnknownOption(Ids.InstallationId)
const decodeConversationId = Schema.decodeUnknownOption(Ids.ConversationId)

const invalidLastEventId = (id: string) =>
  new InvalidRequest({
    error: {
      code: "invalid_last_event_id",
      message: `${id} is not an event id of this stream`,
      details: [{ field: "Last-Event-ID", message: "not an event id of this stream" }]
    }
  })

/** `text/event-stream` among the media types the client accepts. */
const wantsEventStream = (accept: string | undefined): boolean =>
  (accept ?? "").split(",").some((range) => range.split(";")[0]!.trim().toLowerCase() === "text/event-stream")

/** The header wins over the query: a browser's EventSource reconnects to the same URL with a newer header. */
const lastEventIdOf = (
  headers: { readonly "last-event-id"?: string },
  query: { readonly lastEventId?: string }
): string | undefined => headers["last-event-id"] ?? query.lastEventId

export const HistoryHandlers = HttpApiBuilder.group(
  Api,
  "history",
  Effect.fn(function* (handlers) {
    const history = yield* ConversationHistory.ConversationHistory
    const installations = yield* Installations.Installations
    const tokens = yield* AccessTokens.AccessTokens
    const streams = yield* EventStreams
    const owners = yield* ConversationOwners.ConversationOwners

    /** An installation the token may use; any other, known or not, is not found. */
    const allowedInstallation = Effect.fnUntraced(function* (installationId: string) {
      const scope = scopeOf(yield* CurrentAccessToken)
      const id = decodeInstallationId(installationId)
      if (Option.isNone(id) || !InstallationScope.allows(scope, id.value)) {
        return yield* new Installations.InstallationNotFound({ id: installationId })
      }
      const installation = yield* installations.get(installationId)
      return installation.id
    })

    /** The installations a list may show: the token's, narrowed to `installationId` when one is asked for. */
    const listScope = Effect.fnUntraced(function* (
      installationId: string | undefined
    ): Effect.fn.Return<
      InstallationScope.InstallationScope,
      Installations.InstallationNotFound | SqlError.SqlError,
      CurrentAccessToken
    > {
      if (installationId === undefined) return scopeOf(yield* CurrentAccessToken)
      return [yield* allowedInstallation(installationId)]
    })

    // Whether a token is still valid, asked by every open stream of it: cached briefly, so that
    // many streams of one token cost one lookup per half second.
    const tokenStillValid = yield* Cache.make({
      lookup: (id: string) =>
        tokens.get(id).pipe(
          Effect.map((token) => token.revokedAt === null),
          Effect.catchTag("AccessTokenNotFound", () => Effect.succeed(false))
        ),
      capacity: 10_000,
      timeToLive: "500 millis"
    })

    /** What an open stream asks again: its token is not revoked and the installation still exists. */
    const stillAllowed = (tokenId: string, installationId: string): Effect.Effect<boolean> =>
      Effect.all([
        Cache.get(tokenStillValid, tokenId),
        installations.get(installationId).pipe(
          Effect.as(true),
          Effect.catchTag("InstallationNotFound", () => Effect.succeed(false))
        )
      ]).pipe(
        Effect.map(([token, installation]) => token && installation),
        // The database not answering is no answer: the stream goes on (and fails if the log does).
        Effect.catch(() => Effect.succeed(true))
      )

    const conversationStream = Effect.fnUntraced(function* (
      id: string,
      afterVersion: Option.Option<number>,
      fromVersion: number | undefined
    ) {
      const conversationId = decodeConversationId(id)
      if (Option.isNone(conversationId)) {
        return yield* new ReadModels.ConversationNotFound({ conversationId: id })
      }
      const token = yield* CurrentAccessToken
      const owner = yield* owners.ownerOf(conversationId.value)
      if (Option.isNone(owner) || !InstallationScope.allows(scopeOf(token), owner.value)) {
        return yield* new ReadModels.ConversationNotFound({ conversationId: id })
      }
      return yield* streams.conversation(
        conversationId.value,
        Option.getOrElse(afterVersion, () => Math.max(0, (fromVersion ?? 1) - 1)),
        { tokenId: token.id, allowed: stillAllowed(token.id, owner.value) }
      )
    })

    return answering(handlers).handleAll({
      listConversations: Effect.fn("History.listConversations")(function* ({ query }) {
        const installationIds = yield* listScope(query.installationId)
        return yield* history.listConversations({
          installationIds,
          externalConversationId: query.externalConversationId,
          cursor: query.cursor,
          limit: query.limit
        })
      }),
      getConversation: Effect.fn("History.getConversation")(function* ({ params }) {
        const token = yield* CurrentAccessToken
        return yield* history.getConversation(params.conversationId, scopeOf(token))
      }),
      listMessages: Effect.fn("History.listMessages")(function* ({ params, query }) {
        const token = yield* CurrentAccessToken
        return yield* history.listMessages(params.conversationId, {
          installationIds: scopeOf(token),
          cursor: query.cursor,
          limit: query.limit
        })
      }),
      listAttempts: Effect.fn("History.listAttempts")(function* ({ params, query }) {
        const token = yield* CurrentAccessToken
        return yield* history.listDeliveryAttempts(params.conversationId, {
          installationIds: scopeOf(token),
          messageId: query.messageId,
          cursor: query.cursor,
          limit: query.limit
        })
      }),
      conversationEvents: Effect.fn("History.conversationEvents")(function* ({ params, query, headers }) {
        if (wantsEventStream(headers.accept)) {
          const lastEventId = lastEventIdOf(headers, query)
          const afterVersion = lastEventId === undefined ? Option.none() : parseVersionId(lastEventId)
          if (lastEventId !== undefined && Option.isNone(afterVersion)) {
            return yield* invalidLastEventId(lastEventId)
          }
          return yield* conversationStream(params.conversationId, afterVersion, query.fromVersion)
        }
        const token = yield* CurrentAccessToken
        return yield* history.readEvents(params.conversationId, {
          installationIds: scopeOf(token),
          fromVersion: query.fromVersion,
          cursor: query.cursor,
          limit: query.limit
        })
      }),
      installationEvents: Effect.fn("History.installationEvents")(function* ({ params, query, headers }) {
        const lastEventId = lastEventIdOf(headers, query)
        const after = lastEventId === undefined ? Option.none() : parsePositionId(lastEventId)
        if (lastEventId !== undefined && Option.isNone(after)) return yield* invalidLastEventId(lastEventId)
        const installationId = yield* allowedInstallation(params.installationId)
        const token = yield* CurrentAccessToken
        return yield* streams.installation(installationId, Option.getOrUndefined(after), {
          tokenId: token.id,
          allowed: stillAllowed(token.id, installationId)
        })
      })
    })
  })
)
