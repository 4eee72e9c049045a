import { PgTypes } from "@effect/sql-pg"
import { Result } from "effect"
import type { SqlClient, Statement } from "effect/sql"

/**
 * Rows for a multi-row statement (a group commit, a read-model batch, a batch of settlements),
 * bound as one array per column and read back with `unnest`. Postgres takes each array in binary,
 * element by element, and casts it to the column's type. One JSON document holding the rows
 * (`jsonb_to_recordset`) cost it a parse of the whole document into `jsonb` and the extraction of
 * every field from it: for a group commit of 40 appends, a quarter more of its CPU
 * (docs/PERFORMANCE.md, item 20). Server-side only: it loads the Postgres driver, so a module the
 * console's bundle takes schemas from (`EndpointHealth`, say) does not import it.
 */

/** The Postgres type a column is cast to. */
export type ColumnType = "uuid" | "text" | "int4" | "float8" | "timestamptz" | "jsonb"

/** How each type's values travel: numbers as numbers, everything else as text Postgres casts. */
const wireOid: Record<ColumnType, number> = {
  uuid: PgTypes.OID.text,
  text: PgTypes.OID.text,
  int4: PgTypes.OID.int4,
  float8: PgTypes.OID.float8,
  timestamptz: PgTypes.OID.text,
  jsonb: PgTypes.OID.text
}

/** The columns of a row type to bind, each with its type (a `jsonb` column's values are JSON text). */
export type Columns<R> = { readonly [K in keyof R]?: ColumnType }

/** `$1::uuid[]`: values as one array parameter, cast to an array of the column's type. */
const arrayOf = (sql: SqlClient.SqlClient, values: ReadonlyArray<unknown>, type: ColumnType) =>
  sql`${Result.getOrThrow(PgTypes.array(values, wireOid[type]))}::${sql.literal(type)}[]`

/**
 * `unnest($1::uuid[], $2::text[], …) AS alias("column", …)`: the rows as a relation, one array per
 * column (an absent value is NULL), each column named as the rows' field (quoted).
 */
export const unnestRows = <R>(
  sql: SqlClient.SqlClient,
  rows: ReadonlyArray<R>,
  columns: Columns<R>,
  alias = "r"
): Statement.Fragment => {
  const names = Object.keys(columns) as Array<keyof R & string>
  const arrays = names.map((name) =>
    arrayOf(
      sql,
      rows.map((row) => row[name] ?? null),
      columns[name] as ColumnType
    )
  )
  // The names are our own field names, quoted as they are (a client's name transforms must not touch them).
  const aliases = names.map((name) => `"${name}"`).join(", ")
  return sql`unnest(${sql.csv(arrays)}) AS ${sql.literal(alias)}(${sql.literal(aliases)})`
}

/** `ANY($1::uuid[])`: a list of values as one array parameter of the given type, to compare with `=`. */
export const anyOf = (sql: SqlClient.SqlClient, values: ReadonlyArray<string | number>, type: ColumnType) =>
  sql`ANY(${arrayOf(sql, values, type)})`
