import { mkdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Page } from "playwright-core"
import { launchChromium } from "./Chromium.ts"
import { fileDatabaseUrl } from "./FileDatabase.ts"
import { startReceiver } from "./Receiver.ts"
import { adminToken, startServer } from "./ServerProcess.ts"

// The operator console in a real Chromium against a real `serve` process and a real response
// endpoint on 127.0.0.1: sign in, create an installation (the endpoint check passes), watch a
// conversation live, fail the endpoint, find the dead letter, redeliver it and see it delivered.
// CONSOLE_SCREENSHOTS=docs saves the main pages as PNG files under docs/ for the README.

const databaseUrl = await fileDatabaseUrl()

const screenshotsDirectory = process.env.CONSOLE_SCREENSHOTS
const docs = fileURLToPath(new URL("../../../docs/", import.meta.url))

const step = <A>(run: () => Promise<A>) => Effect.promise(run)

const screenshot = (page: Page, name: string) =>
  step(async () => {
    if (screenshotsDirectory === undefined) return
    mkdirSync(docs, { recursive: true })
    await page.screenshot({ path: `${docs}console-${name}.png`, fullPage: true })
  })

const webhook = (
  webhookUrl: string,
  token: string,
  conversationId: string,
  messageId: string,
  text: string
) =>
  step(async () => {
    const response = await fetch(webhookUrl, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ userId: "user-1", messageId, conversationId, type: "text", text })
    })
    assert.strictEqual(response.status, 200, await response.text())
  })

describe("the operator console", () => {
  it.live(
    "signs in, creates an installation, follows a conversation live and redelivers a dead letter",
    () =>
      Effect.gen(function* () {
        const browser = yield* launchChromium
        const receiver = yield* startReceiver()
        const server = yield* startServer({ DATABASE_URL: databaseUrl, MIN_RETRY_DELAY: "1 millis" })
        const page = yield* step(() => browser.newPage({ viewport: { width: 1280, height: 800 } }))
        page.setDefaultTimeout(15_000)
        // What the page itself reports goes to the test's output, to explain a failure.
        page.on("pageerror", (error) => console.error(`page error: ${error.message}`))
        page.on("console", (message) => {
          if (message.type() === "error") console.error(`page console: ${message.text()}`)
        })

        // Sign in: a wrong token is refused in words, the admin token lets us in.
        yield* step(() => page.goto(`${server.url}/console`))
        yield* step(() => page.getByLabel("Access token").fill("not-a-token"))
        yield* step(() => page.getByRole("button", { name: "Sign in" }).click())
        yield* step(() => page.getByRole("alert").filter({ hasText: /token/i }).waitFor())
        yield* step(() => page.getByLabel("Access token").fill(adminToken))
        yield* step(() => page.getByRole("button", { name: "Sign in" }).click())
        yield* step(() => page.getByRole("heading", { name: "Overview" }).waitFor())
        const stored = yield* step(() => page.evaluate("Object.values(window.sessionStorage)"))
        assert.deepStrictEqual(stored, [adminToken])

        // Installations: an endpoint that is not a URL is refused in words; the receiver passes the check.
        yield* step(() => page.getByRole("link", { name: "Installations" }).click())
        yield* step(() => page.getByLabel("Response endpoint URL").fill("http://127.0.0.1:1/nothing-listens"))
        yield* step(() => page.getByRole("button", { name: "Create installation" }).click())
        const refused = yield* step(() => page.getByRole("alert").first().textContent())
        assert.isTrue((refused ?? "").length > 10, `an error in words: ${refused}`)
        const checksBefore = receiver.arrivals.length
        yield* step(() => page.getByLabel("Response endpoint URL").fill(receiver.url))
        yield* step(() => page.getByLabel("Retry schedule (optional)").fill("5ms,5ms"))
        yield* step(() => page.getByRole("button", { name: "Create installation" }).click())
        yield* step(() => page.getByRole("heading", { name: "Installation created" }).waitFor())
        assert.isAbove(receiver.arrivals.length, checksBefore, "the endpoint check reached the receiver")
        const webhookUrl = (yield* step(() =>
          page.locator(".shown-once dd code").first().textContent()
        )) as string
        assert.match(webhookUrl, /\/webhooks\//)
        yield* screenshot(page, "installations")

        // A conversation, live: the first message opens it, the second appears while we watch.
        yield* webhook(webhookUrl, adminToken, "support-42", "m-1", "Hello from the browser test")
        yield* step(() => page.getByRole("link", { name: "Conversations" }).click())
        yield* step(() => page.getByLabel("Your conversation id").fill("support-42"))
        yield* step(() => page.getByRole("button", { name: "Search" }).click())
        yield* step(() => page.getByRole("link", { name: "support-42" }).click())
        const timeline = page.getByRole("list", { name: "Timeline" })
        yield* step(() => page.getByRole("status").filter({ hasText: "Live" }).waitFor())
        yield* step(() =>
          timeline.locator(".entry.bot").filter({ hasText: "Hello from the browser test" }).waitFor()
        )
        yield* webhook(webhookUrl, adminToken, "support-42", "m-2", "A second message, live")
        yield* step(() =>
          timeline.locator(".entry.user").filter({ hasText: "A second message, live" }).waitFor()
        )
        yield* step(() =>
          timeline
            .locator(".entry.bot")
            .filter({ hasText: "A second message, live" })
            .locator(".status", { hasText: "delivered" })
            .waitFor()
        )
        yield* screenshot(page, "timeline")

        // The endpoint fails for good (a 410 is permanent): the reply is dead-lettered, live.
        receiver.setBehaviour(() => 410)
        yield* webhook(webhookUrl, adminToken, "support-42", "m-3", "This reply will fail")
        const failed = timeline.locator(".entry.bot").filter({ hasText: "This reply will fail" })
        yield* step(() => failed.locator(".status", { hasText: "dead letter" }).waitFor())
        yield* step(() =>
          failed
            .getByText(/HTTP 410/)
            .first()
            .waitFor()
        )

        // Deliveries: the dead letter with its reason; redeliver it to a healthy endpoint.
        yield* step(() => page.getByRole("link", { name: "Deliveries" }).click())
        const row = page.getByRole("row").filter({ hasText: "This reply will fail" })
        yield* step(() => row.waitFor())
        yield* step(() => row.getByText(/HTTP 410/).waitFor())
        yield* screenshot(page, "deliveries")
        receiver.setBehaviour(() => 200)
        yield* step(() => row.getByRole("checkbox").check())
        yield* step(() => page.getByRole("button", { name: /Redeliver selected/ }).click())
        yield* step(() => page.getByRole("status").filter({ hasText: "queued for redelivery" }).waitFor())
        const watched = page.getByRole("table", { name: "Redelivered from this page" })
        yield* step(() => watched.locator(".status", { hasText: "delivered" }).waitFor())
        const delivered = receiver.arrivals.filter(
          (arrival) => arrival.answer === 200 && arrival.body.includes("This reply will fail")
        )
        assert.lengthOf(delivered, 1)
        yield* step(() => page.getByText("No dead letters.").waitFor())

        // The overview's figures, from the service's own endpoints.
        yield* step(() => page.getByRole("link", { name: "Overview" }).click())
        yield* step(() => page.getByText("Live conversations").waitFor())
        yield* screenshot(page, "overview")

        // A phone-sized screen: the timeline still reads without scrolling sideways.
        yield* step(() => page.setViewportSize({ width: 390, height: 844 }))
        yield* step(() => page.goBack())
        yield* step(() => page.goBack())
        yield* step(() => page.getByRole("list", { name: "Timeline" }).waitFor())
        const overflow = yield* step(() =>
          page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        )
        assert.strictEqual(overflow, 0, "no sideways scrolling on a phone")
        yield* screenshot(page, "phone")
      }).pipe(Effect.scoped),
    { timeout: 60_000 }
  )
})
