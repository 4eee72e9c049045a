import { ReadModels } from "@messaging-api/domain"
import { Flag } from "effect/cli"

/** `--limit N` of the list commands: a page of the read model, newest first. */
export const limit = Flag.Int("limit").pipe(
  Flag.optional,
  Flag.withDescription(
    `How many, newest first (default ${ReadModels.defaultPageSize}, at most ${ReadModels.maxPageSize})`
  )
)
