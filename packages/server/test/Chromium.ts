import { existsSync } from "node:fs"
import { Effect } from "effect"
import { type Browser, chromium } from "playwright-core"

/**
 * Debian's Chromium (`apt-get install -y chromium`), driven by playwright-core: Playwright's own
 * browser download is not used. `npm test` installs it when run as root (scripts/bootstrap.sh);
 * anywhere else a missing browser fails the test with the one line that says how to get it.
 */

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

export class ChromiumMissing extends Error {
  constructor() {
    super(
      `Chromium is missing at ${chromiumPath}: install it with \`apt-get install -y chromium\` (or set CHROMIUM_PATH)`
    )
  }
}

/** A headless Chromium, closed with the scope. */
export const launchChromium = Effect.acquireRelease(
  Effect.suspend(() =>
    existsSync(chromiumPath)
      ? Effect.promise(
          (): Promise<Browser> =>
            chromium.launch({
              executablePath: chromiumPath,
              headless: true,
              args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
            })
        )
      : Effect.die(new ChromiumMissing())
  ),
  (browser) => Effect.promise(() => browser.close())
)
