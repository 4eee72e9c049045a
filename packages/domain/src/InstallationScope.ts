import { Schema } from "effect"
import type { SqlClient, Statement } from "effect/sql"
import { InstallationId } from "./Ids.ts"

/**
 * Which installations a caller may see: every one ("all": admin and unrestricted tokens, the
 * CLI), or only these. Conversations and messages of any other installation are not found,
 * exactly like unknown ones, so a caller learns nothing about the others. The one place that
 * answers "may this caller see what this installation owns"; the owner of a conversation comes
 * from `ConversationOwners`.
 */
export const InstallationScope = Schema.Union([Schema.Literal("all"), Schema.Array(InstallationId)])
export type InstallationScope = typeof InstallationScope.Type

/** Whether the scope holds the installation (decoded ids are lower-case, so `===` compares them). */
export const allows = (scope: InstallationScope, installationId: InstallationId): boolean =>
  scope === "all" || scope.includes(installationId)

/** A token's scope: `installationIds` null means every installation. */
export const ofToken = (token: {
  readonly installationIds: ReadonlyArray<InstallationId> | null
}): InstallationScope => token.installationIds ?? "all"

/** The scope narrowed to one installation, or undefined when the scope does not hold it. */
export const narrow = (
  scope: InstallationScope,
  installationId: InstallationId
): InstallationScope | undefined => (allows(scope, installationId) ? [installationId] : undefined)

/** The condition on a table's `installation_id` column that keeps a list to the scope. */
export const sqlFilter = (sql: SqlClient.SqlClient, scope: InstallationScope): Statement.Fragment => {
  if (scope === "all") return sql`TRUE`
  return scope.length === 0 ? sql`FALSE` : sql`installation_id IN ${sql.in(scope)}`
}
