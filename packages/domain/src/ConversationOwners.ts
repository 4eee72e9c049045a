import { Context, Effect, Layer, Option, Result } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { ConversationStarted } from "./ConversationEvents.ts"
import { decodeRecorded } from "./ConversationStream.ts"
import { type ConversationId, conversationOfStream, conversationStream, type InstallationId } from "./Ids.ts"

/**
 * Which installation owns a conversation: the one its stream starts in (`ConversationStarted`,
 * version 1). The log is the only source; whether a caller may see the owner's conversations is
 * `InstallationScope.allows`. An owner never changes, so found owners are remembered (a bounded
 * number); an unknown conversation is asked again, since it may start later.
 */
export class ConversationOwners extends Context.Service<
  ConversationOwners,
  {
    /** The conversation's installation; none when the conversation has not started. */
    ownerOf(conversationId: ConversationId): Effect.Effect<Option.Option<InstallationId>, SqlError.SqlError>
    /** The installations of those of these conversations that have started, in one read. */
    ownersOf(
      conversationIds: ReadonlyArray<ConversationId>
    ): Effect.Effect<ReadonlyMap<ConversationId, InstallationId>, SqlError.SqlError>
    /** The owner already remembered, with no read: undefined when it would have to be read. */
    remembered(conversationId: ConversationId): InstallationId | undefined
    /**
     * The owner a `ConversationStarted` just read from the log names: remembered, so the
     * conversation's later events need no read (a follower sees its start before them).
     */
    started(event: ConversationStarted): void
  }
>()("@messaging-api/domain/ConversationOwners") {
  /** Over the SqlClient, reading the `events` table the event store writes. */
  static readonly layer = Layer.effect(ConversationOwners, make())
}

/** Owners remembered; past it, the oldest is forgotten (and read again when asked). */
const maxRemembered = 10_000

function make() {
  return Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const remembered = new Map<ConversationId, InstallationId>()

    const remember = (conversationId: ConversationId, installationId: InstallationId) => {
      if (remembered.size >= maxRemembered) remembered.delete(remembered.keys().next().value!)
      remembered.set(conversationId, installationId)
    }

    const ownersOf = Effect.fnUntraced(function* (conversationIds: ReadonlyArray<ConversationId>) {
      const owners = new Map<ConversationId, InstallationId>()
      const missing: Array<ConversationId> = []
      for (const id of conversationIds) {
        const known = remembered.get(id)
        if (known !== undefined) owners.set(id, known)
        else missing.push(id)
      }
      if (missing.length === 0) return owners
      const rows = yield* sql<{ readonly stream_id: string; readonly type: string; readonly data: unknown }>`
        SELECT stream_id, type, data FROM events
        WHERE stream_id IN ${sql.in(missing.map(conversationStream))} AND version = 1
      `
      for (const row of rows) {
        const conversationId = conversationOfStream(row.stream_id)
        const started = decodeRecorded({
          streamId: row.stream_id,
          version: 1,
          type: row.type,
          data: row.data
        })
        if (conversationId === undefined || Result.isFailure(started)) continue
        if (started.success._tag !== "ConversationStarted") continue
        remember(conversationId, started.success.installationId)
        owners.set(conversationId, started.success.installationId)
      }
      return owners
    })

    const ownerOf = (conversationId: ConversationId) =>
      ownersOf([conversationId]).pipe(
        Effect.map((owners) => Option.fromUndefinedOr(owners.get(conversationId)))
      )

    const started = (event: ConversationStarted) => remember(event.conversationId, event.installationId)

    return ConversationOwners.of({
      ownerOf,
      ownersOf,
      remembered: (conversationId) => remembered.get(conversationId),
      started
    })
  })
}
