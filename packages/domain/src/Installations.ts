import { randomBytes, randomUUID } from "node:crypto"
import {
  Cache,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  Layer,
  Option,
  Schema,
  SchemaGetter,
  Struct
} from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { InstallationId } from "./Ids.ts"
import { BotConfig, encodeBotConfig, Installation } from "./Installation.ts"
import { InstantFromDate } from "./Instant.ts"
import * as OwnRows from "./OwnRows.ts"
import { RetrySchedule } from "./RetrySchedule.ts"
import { hotSpan } from "./Tracing.ts"

/** No live installation by that id (or webhook id, for `findByWebhookId`), named as the caller gave it. */
export class InstallationNotFound extends Schema.TaggedError<InstallationNotFound>()("InstallationNotFound", {
  id: Schema.String
}) {}

/** How long a found installation is kept before it is looked up again. */
export const cacheTtl = "1 second"

export interface NewInstallation {
  readonly bot: BotConfig
  /** null: pull-only, nothing is POSTed. */
  readonly responseUrl: string | null
  readonly retrySchedule: RetrySchedule
}

/** `whsec_` + base64 of 32 random bytes, as Standard Webhooks libraries expect. */
export const newSigningSecret = (): string => `whsec_${randomBytes(32).toString("base64")}`
const newWebhookId = (): string => randomBytes(18).toString("base64url")

/**
 * An installations row, selected under the installation's names (`columns`): its fields as stored
 * (decoded once, by `Installation`), the times read from timestamptz, and the previous secret as a
 * pair of nullable columns (both or neither is set).
 */
const InstallationRow = Schema.Struct({
  ...Struct.map(
    Struct.omit(Installation.fields, ["previousSigningSecret", "previousSecretExpiresAt", "createdAt"]),
    Schema.toEncoded
  ),
  createdAt: InstantFromDate,
  previousSigningSecret: Schema.NullOr(Schema.String),
  previousSecretExpiresAt: Schema.NullOr(InstantFromDate)
}).pipe(
  Schema.decodeTo(Installation, {
    decode: SchemaGetter.transform(({ previousSecretExpiresAt, previousSigningSecret, ...installation }) =>
      previousSigningSecret === null || previousSecretExpiresAt === null
        ? installation
        : { ...installation, previousSigningSecret, previousSecretExpiresAt }
    ),
    encode: SchemaGetter.forbidden(() => "an installations row is read, never written back")
  })
)

/** The installations table. Deleted installations are kept (their conversations still refer to them) but hidden. */
export class Installations extends Context.Service<
  Installations,
  {
    create(input: NewInstallation): Effect.Effect<Installation, SqlError.SqlError>
    get(id: string): Effect.Effect<Installation, InstallationNotFound | SqlError.SqlError>
    findByWebhookId(webhookId: string): Effect.Effect<Installation, InstallationNotFound | SqlError.SqlError>
    readonly list: Effect.Effect<ReadonlyArray<Installation>, SqlError.SqlError>
    delete(id: string): Effect.Effect<void, InstallationNotFound | SqlError.SqlError>
    /**
     * A new signing secret; the one it replaces keeps signing beside it for `overlap`. A rotation
     * during an overlap drops the oldest secret: only the two newest ever sign.
     */
    rotateSecret(
      id: string,
      overlap: Duration.Input
    ): Effect.Effect<Installation, InstallationNotFound | SqlError.SqlError>
  }
>()("@messaging-api/domain/Installations") {
  static readonly layer = Layer.effect(
    Installations,
    Effect.gen(function* () {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const decodeId = Schema.decodeUnknownOption(InstallationId)
      /** An id from outside, decoded (so lower-cased), or not found. */
      const decoded = (id: string): Effect.Effect<InstallationId, InstallationNotFound> =>
        Option.match(decodeId(id), {
          onNone: () => Effect.fail(new InstallationNotFound({ id })),
          onSome: Effect.succeed
        })
      const columns = sql`id::text AS id, webhook_id AS "webhookId", bot, response_url AS "responseUrl",
        signing_secret AS "signingSecret", previous_signing_secret AS "previousSigningSecret",
        previous_secret_expires_at AS "previousSecretExpiresAt", retry_schedule AS "retrySchedule",
        created_at AS "createdAt"`
      const insertRow = OwnRows.returning({
        Request: Schema.Struct({
          id: Schema.String,
          webhookId: Schema.String,
          bot: Schema.toType(BotConfig),
          responseUrl: Schema.NullOr(Schema.String),
          signingSecret: Schema.String,
          retrySchedule: Schema.toType(RetrySchedule)
        }),
        Result: InstallationRow,
        execute: (row) => sql`
          INSERT INTO installations (id, webhook_id, bot, response_url, signing_secret, retry_schedule)
          VALUES (${row.id}, ${row.webhookId}, ${JSON.stringify(encodeBotConfig(row.bot))}::jsonb, ${row.responseUrl},
                  ${row.signingSecret}, ${JSON.stringify(row.retrySchedule)}::jsonb)
          RETURNING ${columns}
        `
      })
      const rowById = OwnRows.findOneOption({
        Request: Schema.toType(InstallationId),
        Result: InstallationRow,
        execute: (id) =>
          sql`SELECT ${columns} FROM installations WHERE id = ${id}::uuid AND deleted_at IS NULL`
      })
      const rowByWebhookId = OwnRows.findOneOption({
        Request: Schema.String,
        Result: InstallationRow,
        execute: (webhookId) =>
          sql`SELECT ${columns} FROM installations WHERE webhook_id = ${webhookId} AND deleted_at IS NULL`
      })
      const allRows = OwnRows.findAll({
        Request: Schema.Void,
        Result: InstallationRow,
        execute: () =>
          sql`SELECT ${columns} FROM installations WHERE deleted_at IS NULL ORDER BY created_at, id`
      })
      // On the right of SET, signing_secret is the value before this update.
      const rotateRow = OwnRows.findOneOption({
        Request: Schema.Struct({
          id: Schema.toType(InstallationId),
          signingSecret: Schema.String,
          expiresAt: Schema.String
        }),
        Result: InstallationRow,
        execute: ({ expiresAt, id, signingSecret }) => sql`
          UPDATE installations
          SET previous_signing_secret = signing_secret,
              previous_secret_expires_at = ${expiresAt}::timestamptz,
              signing_secret = ${signingSecret}
          WHERE id = ${id}::uuid AND deleted_at IS NULL
          RETURNING ${columns}
        `
      })

      const create = Effect.fn("Installations.create")(function* (input: NewInstallation) {
        return yield* insertRow({
          id: randomUUID(),
          webhookId: newWebhookId(),
          bot: input.bot,
          responseUrl: input.responseUrl,
          signingSecret: newSigningSecret(),
          retrySchedule: input.retrySchedule
        })
      })

      const lookupById = Effect.fnUntraced(function* (given: string) {
        const id = yield* decoded(given)
        const row = yield* rowById(id)
        if (Option.isNone(row)) return yield* new InstallationNotFound({ id: given })
        return row.value
      })

      const lookupByWebhookId = Effect.fnUntraced(function* (webhookId: string) {
        const row = yield* rowByWebhookId(webhookId)
        if (Option.isNone(row)) return yield* new InstallationNotFound({ id: webhookId })
        return row.value
      })
      // Every inbound message looks its installation up: found ones are kept briefly (a deletion
      // reaches other processes within `cacheTtl`), misses and failures are not kept.
      const byWebhookId = yield* Cache.makeWith(lookupByWebhookId, {
        capacity: 10_000,
        timeToLive: (exit) => (Exit.isSuccess(exit) ? cacheTtl : 0)
      })
      const findByWebhookId = (webhookId: string) =>
        Cache.get(byWebhookId, webhookId).pipe(hotSpan("Installations.findByWebhookId"))
      // The delivery engine looks installations up by id for every bot turn and attempt: keyed by
      // the id as given, so a hit costs a map lookup (the id is decoded on a miss only).
      const byId = yield* Cache.makeWith(lookupById, {
        capacity: 10_000,
        timeToLive: (exit) => (Exit.isSuccess(exit) ? cacheTtl : 0)
      })
      const get = (id: string) => Cache.get(byId, id).pipe(hotSpan("Installations.get"))

      const list = allRows().pipe(Effect.withSpan("Installations.list"))

      const remove = Effect.fn("Installations.delete")(function* (given: string) {
        const id = yield* decoded(given)
        const rows = yield* sql`
          UPDATE installations SET deleted_at = now() WHERE id = ${id}::uuid AND deleted_at IS NULL RETURNING id
        `
        if (rows.length === 0) return yield* new InstallationNotFound({ id: given })
        yield* Cache.invalidateAll(byWebhookId)
        yield* Cache.invalidate(byId, id)
        if (given !== id) yield* Cache.invalidate(byId, given)
      })

      const rotateSecret = Effect.fn("Installations.rotateSecret")(function* (
        given: string,
        overlap: Duration.Input
      ) {
        const id = yield* decoded(given)
        const now = yield* Clock.currentTimeMillis
        const expiresAt = new Date(now + Duration.toMillis(Duration.fromInputUnsafe(overlap)))
        const row = yield* rotateRow({
          id,
          signingSecret: newSigningSecret(),
          expiresAt: expiresAt.toISOString()
        })
        if (Option.isNone(row)) return yield* new InstallationNotFound({ id: given })
        const rotated = row.value
        // This process signs with the new secret at once; others within `cacheTtl`.
        yield* Cache.invalidate(byWebhookId, rotated.webhookId)
        yield* Cache.invalidate(byId, id)
        if (given !== id) yield* Cache.invalidate(byId, given)
        return rotated
      })

      return Installations.of({ create, get, findByWebhookId, list, delete: remove, rotateSecret })
    })
  )
}
