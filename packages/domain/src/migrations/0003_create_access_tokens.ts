import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Personal access tokens. Only a SHA-256 of the token string is kept; the token itself is shown
 * once, when it is created. `installation_ids` null means every installation; admin tokens (the
 * /v1 API) are never limited to some installations.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE access_tokens (
      id                text        PRIMARY KEY,
      name              text        NOT NULL,
      secret_hash       text        NOT NULL,
      admin             boolean     NOT NULL,
      installation_ids  jsonb,
      source            text        NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'environment')),
      created_at        timestamptz NOT NULL DEFAULT now(),
      revoked_at        timestamptz,
      CONSTRAINT access_tokens_admin_unrestricted CHECK (NOT admin OR installation_ids IS NULL)
    )
  `
})
