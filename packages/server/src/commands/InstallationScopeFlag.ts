import { Ids, type ReadModels } from "@messaging-api/domain"
import { Effect, Option, Schema } from "effect"
import { InvalidFlagValue } from "./installations.ts"

/** `--installation ID` of the list commands: that installation only; absent, every installation. */
export const installationScope = (
  installation: Option.Option<string>
): Effect.Effect<ReadModels.InstallationScope, InvalidFlagValue> => {
  if (Option.isNone(installation)) return Effect.succeed("all")
  return Schema.is(Ids.Uuid)(installation.value)
    ? Effect.succeed([installation.value.toLowerCase()])
    : Effect.fail(
        new InvalidFlagValue({
          flag: "--installation",
          message: `${installation.value} is not an installation id`
        })
      )
}
