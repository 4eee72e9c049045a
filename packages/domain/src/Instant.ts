import { Schema, SchemaTransformation } from "effect"

/**
 * Times as the service keeps them: ISO-8601 strings (`2026-11-25T12:00:00.000Z`, as
 * `Date.toISOString` and `DateTime.formatIso` write them), so folding a long log stays cheap.
 */

const isoShape = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/

/** Why a string is not an ISO-8601 instant, or undefined. */
const instantProblem = (value: string): string | undefined =>
  isoShape.test(value) && !Number.isNaN(Date.parse(value))
    ? undefined
    : "must be an ISO-8601 time like 2026-11-25T12:00:00.000Z"

/** An ISO-8601 instant, checked: commands, cursors and everything else that crosses a boundary. */
export const Instant = Schema.String.check(Schema.makeFilter(instantProblem))
export type Instant = typeof Instant.Type

/**
 * An instant as the event log holds it: decoded as written, unchecked. The service has only ever
 * written checked instants, but the log is forever, so reading it never refuses a time; the folds
 * that need one fall back to the log's own time when an event's does not parse.
 */
export const LoggedInstant = Schema.String
export type LoggedInstant = typeof LoggedInstant.Type

/** A `timestamptz` column (a `Date` from the driver) as the instant the API shows. */
export const InstantFromDate = Schema.Date.pipe(
  Schema.decodeTo(
    Instant,
    SchemaTransformation.transform({
      decode: (date: Date) => date.toISOString(),
      encode: (instant: string) => new Date(instant)
    })
  )
)

/** The instant of a clock reading (`Clock.currentTimeMillis`), as commands and events carry it. */
export const ofMillis = (millis: number): string => new Date(millis).toISOString()
