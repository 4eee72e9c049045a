import { type Ids, Installations } from "@messaging-api/domain"
import type { Installation } from "@messaging-api/domain/Installation"
import { Clock, Effect } from "effect"
import type { SqlError } from "effect/sql"

/**
 * The installation as one conversation actor sees it: read at most every few seconds per actor,
 * not once per bot turn or delivery attempt. A deleted installation is `undefined`.
 */

const INSTALLATION_TTL_MS = 5_000

export type InstallationOf = (
  id: Ids.InstallationId
) => Effect.Effect<Installation | undefined, SqlError.SqlError>

export const make = Effect.fnUntraced(function* () {
  const installations = yield* Installations.Installations
  let cached: { readonly value: Installation | undefined; readonly until: number } | undefined
  const installationOf: InstallationOf = (id) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (cached !== undefined && cached.until > now) return cached.value
      const value = yield* installations
        .get(id)
        .pipe(Effect.catchTag("InstallationNotFound", () => Effect.succeed(undefined)))
      cached = { value, until: now + INSTALLATION_TTL_MS }
      return value
    })
  return installationOf
})
