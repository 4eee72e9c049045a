import { Schema } from "effect"

/** A flag's value is not what the flag takes (a URL that is not one, a schedule that does not parse). */
export class InvalidFlagValue extends Schema.TaggedError<InvalidFlagValue>()("InvalidFlagValue", {
  flag: Schema.String,
  message: Schema.String
}) {}
