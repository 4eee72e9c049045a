import type { HttpSettings } from "@messaging-api/http"
import { Config, Duration, Schema } from "effect"

/** A rate limit as the environment gives it (`100/s`, `600/m`, `1000/h`, or `off`), as http applies it. */
export type RateLimit = HttpSettings.RateLimit

const windows: Record<string, Duration.Duration> = {
  s: Duration.seconds(1),
  m: Duration.minutes(1),
  h: Duration.hours(1)
}

const rateLimitPattern = /^\s*(\d+)\s*\/\s*(s|m|h)\s*$/

const RateLimitText = Schema.String.check(
  Schema.makeFilter((text: string) => {
    if (text.trim().toLowerCase() === "off") return undefined
    const match = rateLimitPattern.exec(text)
    return match !== null && Number(match[1]) > 0 ? undefined : "expected like 100/s, 600/m, 1000/h or off"
  })
)

/** The variable `name` (`fallback` when unset) as a rate limit; undefined: off. */
export const rateLimitConfig = (name: string, fallback: string): Config.Config<RateLimit | undefined> =>
  Config.schema(RateLimitText, name).pipe(
    Config.withDefault(fallback),
    Config.map((text): RateLimit | undefined => {
      const match = rateLimitPattern.exec(text)
      return match === null ? undefined : { limit: Number(match[1]), window: windows[match[2]!]! }
    })
  )
