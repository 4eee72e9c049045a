import { Ids, type InstallationScope } from "@messaging-api/domain"
import { Effect, Option, Schema } from "effect"
import { InvalidFlagValue } from "./InvalidFlagValue.ts"

const decodeInstallationId = Schema.decodeUnknownOption(Ids.InstallationId)

/** `--installation ID` of the list commands: that installation only; absent, every installation. */
export const installationScope = (
  installation: Option.Option<string>
): Effect.Effect<InstallationScope.InstallationScope, InvalidFlagValue> => {
  if (Option.isNone(installation)) return Effect.succeed<InstallationScope.InstallationScope>("all")
  const id = decodeInstallationId(installation.value)
  return Option.isSome(id)
    ? Effect.succeed<InstallationScope.InstallationScope>([id.value])
    : Effect.fail(
        new InvalidFlagValue({
          flag: "--installation",
          message: `${installation.value} is not an installation id`
        })
      )
}
