import { assert, describe, it } from "@effect/vitest"
import type { InstallationId } from "../src/Ids.ts"
import { Installation, signingSecrets } from "../src/Installation.ts"

const installation = (fields: Partial<Installation>) =>
  new Installation({
    id: "0b6f9a4e-9a43-4a39-8f3e-52a1f4b0c7d1" as InstallationId,
    webhookId: "hook",
    bot: { _tag: "echo" },
    responseUrl: "https://app.example/replies",
    signingSecret: "whsec_new",
    retrySchedule: [1_000],
    createdAt: "2026-01-01T00:00:00.000Z",
    ...fields
  })

describe("signingSecrets", () => {
  const rotated = installation({
    previousSigningSecret: "whsec_old",
    previousSecretExpiresAt: "2026-01-02T00:00:00.000Z"
  })
  const expiry = Date.parse("2026-01-02T00:00:00.000Z")

  it("is the current secret alone when nothing was rotated", () => {
    assert.deepStrictEqual(signingSecrets(installation({}), expiry), ["whsec_new"])
  })

  it("is the current then the previous secret until the overlap ends, then the current alone", () => {
    assert.deepStrictEqual(signingSecrets(rotated, expiry - 1), ["whsec_new", "whsec_old"])
    assert.deepStrictEqual(signingSecrets(rotated, expiry), ["whsec_new"])
    assert.deepStrictEqual(signingSecrets(rotated, expiry + 60_000), ["whsec_new"])
  })
})
