import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { anyOf, type Columns, unnestRows } from "../src/ColumnArrays.ts"
import * as Database from "../src/Database.ts"

/**
 * Rows bound as column arrays come back from `unnest` as they went in: every type the statements
 * use, NULLs (also a column of NULLs only, which the driver could not type by itself), text that
 * JSON or an array literal would have to escape, and no rows at all.
 */

interface Row {
  readonly id: string
  readonly label: string | null
  readonly count: number | null
  readonly duration: number
  readonly at: string | null
  readonly doc: string
  readonly never: string | null
}

const columns: Columns<Row> = {
  id: "uuid",
  label: "text",
  count: "int4",
  duration: "float8",
  at: "timestamptz",
  doc: "jsonb",
  never: "text"
}

const rows: ReadonlyArray<Row> = [
  {
    id: "0b0f9f7e-3c2a-4a55-9d3e-1f2a3b4c5d6e",
    label: "quotes \" and ' , braces {} and a backslash \\",
    count: 3,
    duration: 1.5,
    at: "2026-12-01T10:00:00.000Z",
    doc: JSON.stringify({ text: "héllo ✓", nested: [1, null] }),
    never: null
  },
  {
    id: "6f1c3a52-9b1e-4d0a-a7f3-2d64c1b8e0a9",
    label: null,
    count: null,
    duration: 2,
    at: null,
    doc: "{}",
    never: null
  }
]

layer(Database.layer({ url: inject("databaseUrl") }), { excludeTestServices: true })("ColumnArrays", (it) => {
  it.effect("unnestRows gives back every row, value and NULL as bound, in order", () =>
    Effect.gen(function* () {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const read = yield* sql<{
        id: string
        label: string | null
        count: number | null
        duration: number
        at: string | null
        doc: unknown
        never: string | null
      }>`
        SELECT r.id::text AS id, r.label, r.count, r.duration,
               to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, r.doc, r.never
        FROM ${unnestRows(sql, rows, columns)}
      `
      assert.deepStrictEqual(
        read.map((row) => ({ ...row })),
        rows.map((row) => ({ ...row, doc: JSON.parse(row.doc) }))
      )
      const none = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${unnestRows(sql, [], columns)}`
      assert.strictEqual(none[0]?.n, 0)
    })
  )

  it.effect("anyOf matches the listed values only, and nothing for an empty list", () =>
    Effect.gen(function* () {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const matching = (values: ReadonlyArray<number>) =>
        sql<{ n: number }>`
          SELECT n FROM generate_series(1, 5) AS n WHERE n = ${anyOf(sql, values, "int4")} ORDER BY n
        `.pipe(Effect.map((found) => found.map((row) => row.n)))
      assert.deepStrictEqual(yield* matching([2, 4, 9]), [2, 4])
      assert.deepStrictEqual(yield* matching([]), [])
    })
  )
})
