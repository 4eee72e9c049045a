import { randomBytes, randomUUID } from "node:crypto"
import { Cache, Clock, Context, Duration, Effect, Exit, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { InstallationId } from "./Ids.ts"
import { type BotConfig, encodeBotConfig, Installation } from "./Installation.ts"
import type { RetrySchedule } from "./RetrySchedule.ts"

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

interface InstallationRow {
  readonly id: string
  readonly webhook_id: string
  readonly bot: unknown
  readonly response_url: string | null
  readonly signing_secret: string
  readonly previous_signing_secret: string | null
  readonly previous_secret_expires_at: Date | null
  readonly retry_schedule: unknown
  readonly created_at: Date
}

const decodeRow = Schema.decodeUnknownSync(Installation)
const fromRow = (row: InstallationRow): Installation =>
  decodeRow({
    id: row.id,
    webhookId: row.webhook_id,
    bot: row.bot,
    responseUrl: row.response_url,
    signingSecret: row.signing_secret,
    ...(row.previous_signing_secret === null || row.previous_secret_expires_at === null
      ? {}
      : {
          previousSigningSecret: row.previous_signing_secret,
          previousSecretExpiresAt: row.previous_secret_expires_at.toISOString()
        }),
    retrySchedule: row.retry_schedule,
    createdAt: row.created_at.toISOString()
  })

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
      const columns = sql`id::text, webhook_id, bot, response_url, signing_secret, previous_signing_secret,
        previous_secret_expires_at, retry_schedule, created_at`

      const create = Effect.fn("Installations.create")(function* (input: NewInstallation) {
        const rows = yield* sql<InstallationRow>`
          INSERT INTO installations (id, webhook_id, bot, response_url, signing_secret, retry_schedule)
          VALUES (${randomUUID()}, ${newWebhookId()}, ${JSON.stringify(encodeBotConfig(input.bot))}::jsonb, ${input.responseUrl},
                  ${newSigningSecret()}, ${JSON.stringify(input.retrySchedule)}::jsonb)
          RETURNING ${columns}
        `
        return fromRow(rows[0]!)
      })

      const lookupById = Effect.fnUntraced(function* (id: InstallationId) {
        const rows = yield* sql<InstallationRow>`
          SELECT ${columns} FROM installations WHERE id = ${id}::uuid AND deleted_at IS NULL
        `
        if (rows.length === 0) return yield* new InstallationNotFound({ id })
        return fromRow(rows[0]!)
      })

      const lookupByWebhookId = Effect.fnUntraced(function* (webhookId: string) {
        const rows = yield* sql<InstallationRow>`
          SELECT ${columns} FROM installations WHERE webhook_id = ${webhookId} AND deleted_at IS NULL
        `
        if (rows.length === 0) return yield* new InstallationNotFound({ id: webhookId })
        return fromRow(rows[0]!)
      })
      // Every inbound message looks its installation up: found ones are kept briefly (a deletion
      // reaches other processes within `cacheTtl`), misses and failures are not kept.
      const byWebhookId = yield* Cache.makeWith(lookupByWebhookId, {
        capacity: 10_000,
        timeToLive: (exit) => (Exit.isSuccess(exit) ? cacheTtl : 0)
      })
      const findByWebhookId = (webhookId: string) =>
        Cache.get(byWebhookId, webhookId).pipe(
          Effect.withSpan("Installations.findByWebhookId", undefined, { captureStackTrace: false })
        )
      // The delivery engine looks installations up by id for every bot turn and attempt.
      const byId = yield* Cache.makeWith(lookupById, {
        capacity: 10_000,
        timeToLive: (exit) => (Exit.isSuccess(exit) ? cacheTtl : 0)
      })
      const get = (id: string) =>
        decoded(id).pipe(
          Effect.flatMap((installationId) => Cache.get(byId, installationId)),
          Effect.withSpan("Installations.get", undefined, { captureStackTrace: false })
        )

      const list = sql<InstallationRow>`
        SELECT ${columns} FROM installations WHERE deleted_at IS NULL ORDER BY created_at, id
      `.pipe(
        Effect.map((rows) => rows.map(fromRow)),
        Effect.withSpan("Installations.list")
      )

      const remove = Effect.fn("Installations.delete")(function* (given: string) {
        const id = yield* decoded(given)
        const rows = yield* sql`
          UPDATE installations SET deleted_at = now() WHERE id = ${id}::uuid AND deleted_at IS NULL RETURNING id
        `
        if (rows.length === 0) return yield* new InstallationNotFound({ id: given })
        yield* Cache.invalidateAll(byWebhookId)
        yield* Cache.invalidate(byId, id)
      })

      const rotateSecret = Effect.fn("Installations.rotateSecret")(function* (
        given: string,
        overlap: Duration.Input
      ) {
        const id = yield* decoded(given)
        const now = yield* Clock.currentTimeMillis
        const expiresAt = new Date(now + Duration.toMillis(Duration.fromInputUnsafe(overlap)))
        // On the right of SET, signing_secret is the value before this update.
        const rows = yield* sql<InstallationRow>`
          UPDATE installations
          SET previous_signing_secret = signing_secret,
              previous_secret_expires_at = ${expiresAt.toISOString()}::timestamptz,
              signing_secret = ${newSigningSecret()}
          WHERE id = ${id}::uuid AND deleted_at IS NULL
          RETURNING ${columns}
        `
        if (rows.length === 0) return yield* new InstallationNotFound({ id: given })
        const rotated = fromRow(rows[0]!)
        // This process signs with the new secret at once; others within `cacheTtl`.
        yield* Cache.invalidate(byWebhookId, rotated.webhookId)
        yield* Cache.invalidate(byId, id)
        return rotated
      })

      return Installations.of({ create, get, findByWebhookId, list, delete: remove, rotateSecret })
    })
  )
}
