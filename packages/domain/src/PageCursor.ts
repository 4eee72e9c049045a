import { Effect, Schema } from "effect"
import { Uuid } from "./Ids.ts"
import { Instant } from "./Instant.ts"
import { InvalidCursor } from "./ReadModels.ts"

/**
 * Opaque page cursors: base64url of a small JSON naming the list it belongs to and the key of
 * the last item handed out. Callers never look inside; a cursor that does not decode, or that
 * belongs to another list, is an `InvalidCursor`.
 */

/** Lists ordered by time, newest first, ties broken by id. */
const TimeKey = Schema.Struct({ k: Schema.Literal("conversations"), t: Instant, id: Uuid })
export type TimeKey = Omit<typeof TimeKey.Type, "k">

/** Lists ordered by stream version inside one conversation. */
const VersionKey = Schema.Struct({
  k: Schema.Literals(["messages", "attempts", "events"]),
  v: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
})

const maxLength = 512
const base64url = /^[A-Za-z0-9_-]+$/

const toText = (value: unknown): string => Buffer.from(JSON.stringify(value), "utf8").toString("base64url")

const fromText = <A>(decode: (text: string) => Effect.Effect<A, Schema.SchemaError>, cursor: string) =>
  cursor.length > maxLength || !base64url.test(cursor)
    ? Effect.fail(new InvalidCursor({ message: "the cursor is not one this list handed out" }))
    : decode(Buffer.from(cursor, "base64url").toString("utf8")).pipe(
        Effect.mapError(() => new InvalidCursor({ message: "the cursor is not one this list handed out" }))
      )

const decodeTimeKey = Schema.decodeUnknownEffect(Schema.fromJsonString(TimeKey))
const decodeVersionKey = Schema.decodeUnknownEffect(Schema.fromJsonString(VersionKey))

export const encodeTime = (key: TimeKey): string => toText({ k: "conversations", t: key.t, id: key.id })

export const decodeTime = (cursor: string): Effect.Effect<TimeKey, InvalidCursor> =>
  fromText(decodeTimeKey, cursor).pipe(Effect.map(({ t, id }) => ({ t, id })))

export const encodeVersion = (kind: "messages" | "attempts" | "events", version: number): string =>
  toText({ k: kind, v: version })

export const decodeVersion = (
  kind: "messages" | "attempts" | "events",
  cursor: string
): Effect.Effect<number, InvalidCursor> =>
  fromText(decodeVersionKey, cursor).pipe(
    Effect.flatMap((key) =>
      key.k === kind
        ? Effect.succeed(key.v)
        : Effect.fail(new InvalidCursor({ message: "the cursor belongs to another list" }))
    )
  )
