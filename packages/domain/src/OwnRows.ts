import { Effect, type Schema } from "effect"
import { SqlSchema } from "effect/sql"

/**
 * Queries over our own tables, their rows read by a Schema (`SqlSchema`). A row of ours that
 * does not decode means the table and its schema disagree (a migration missing, a row edited by
 * hand): a defect, not an error a caller could handle, so it dies here, once, rather than at each
 * call site. The same holds for a statement that must return its row (`INSERT … RETURNING`).
 */

interface Query<Req extends Schema.Constraint, Res extends Schema.Constraint, E, R> {
  readonly Request: Req
  readonly Result: Res
  readonly execute: (request: Req["Encoded"]) => Effect.Effect<ReadonlyArray<unknown>, E, R>
}

/** Every row the query returns. */
export const findAll = <Req extends Schema.Constraint, Res extends Schema.Constraint, E, R>(
  query: Query<Req, Res, E, R>
) => {
  const run = SqlSchema.findAll(query)
  return (request: Req["Type"]) => run(request).pipe(Effect.catchTag("SchemaError", Effect.die))
}

/** The first row, if there is one. */
export const findOneOption = <Req extends Schema.Constraint, Res extends Schema.Constraint, E, R>(
  query: Query<Req, Res, E, R>
) => {
  const run = SqlSchema.findOneOption(query)
  return (request: Req["Type"]) => run(request).pipe(Effect.catchTag("SchemaError", Effect.die))
}

/** The row a statement must return (`INSERT … RETURNING`): none is a defect too. */
export const returning = <Req extends Schema.Constraint, Res extends Schema.Constraint, E, R>(
  query: Query<Req, Res, E, R>
) => {
  const run = SqlSchema.findOne(query)
  return (request: Req["Type"]) =>
    run(request).pipe(Effect.catchTag(["SchemaError", "NoSuchElementError"], Effect.die))
}
