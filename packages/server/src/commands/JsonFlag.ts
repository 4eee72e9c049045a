import { Flag } from "effect/cli"

/** `--json`: machine-readable output; `description` says which. */
export const jsonFlag = (description: string) =>
  Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription(description))

/** `--json` of the commands that print one JSON document. */
export const json = jsonFlag("Print one JSON document instead of text")
