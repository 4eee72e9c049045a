import { ConversationSnapshots, type ConversationStream, type Ids } from "@messaging-api/domain"
import { Effect } from "effect"

/**
 * A conversation actor's snapshots: its state comes from the latest snapshot and the events after
 * it; once the actor is `SNAPSHOT_EVERY` events past that snapshot, it writes a new one when its
 * loop settles. A snapshot that cannot be saved is only a warning: the log is the record.
 */

export const make = Effect.fnUntraced(function* (conversationId: Ids.ConversationId) {
  const snapshots = yield* ConversationSnapshots.ConversationSnapshots
  let snapshotVersion = 0

  const load = (id: Ids.ConversationId) =>
    snapshots.load(id).pipe(
      Effect.tap((loaded) =>
        Effect.sync(() => {
          snapshotVersion = loaded.snapshotVersion
        })
      )
    )

  const saveIfDue = (loaded: ConversationStream.LoadedDecisionState) =>
    loaded.version - snapshotVersion < ConversationSnapshots.SNAPSHOT_EVERY
      ? Effect.void
      : snapshots.save(conversationId, loaded).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              snapshotVersion = loaded.version
            })
          ),
          Effect.catch((error) =>
            Effect.logWarning("could not save a conversation snapshot", error).pipe(
              Effect.annotateLogs({ conversationId })
            )
          )
        )

  return { load, saveIfDue } as const
})
