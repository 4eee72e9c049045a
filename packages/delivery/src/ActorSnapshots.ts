import { ConversationSnapshots, type ConversationStream, type Ids } from "@messaging-api/domain"
import { Effect } from "effect"

/**
 * A conversation actor's snapshots: its state comes from the latest snapshot and the events after
 * it; once the actor is `SNAPSHOT_EVERY` events past that snapshot, it writes a new one when its
 * loop settles. A snapshot that cannot be saved is only a warning: the log is the record.
 * Built once per process; what each actor keeps is its `SnapshotMark`.
 */

/** What one actor knows of its snapshots: the version of the latest (0: none). */
export interface SnapshotMark {
  readonly conversationId: Ids.ConversationId
  snapshotVersion: number
}

export const make = Effect.fnUntraced(function* () {
  const snapshots = yield* ConversationSnapshots.ConversationSnapshots

  const load = (mark: SnapshotMark) =>
    snapshots.load(mark.conversationId).pipe(
      Effect.tap((loaded) =>
        Effect.sync(() => {
          mark.snapshotVersion = loaded.snapshotVersion
        })
      )
    )

  const saveIfDue = (mark: SnapshotMark, loaded: ConversationStream.LoadedDecisionState) =>
    loaded.version - mark.snapshotVersion < ConversationSnapshots.SNAPSHOT_EVERY
      ? Effect.void
      : snapshots.save(mark.conversationId, loaded).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              mark.snapshotVersion = loaded.version
            })
          ),
          Effect.catch((error) =>
            Effect.logWarning("could not save a conversation snapshot", error).pipe(
              Effect.annotateLogs({ conversationId: mark.conversationId })
            )
          )
        )

  return { load, saveIfDue } as const
})
