import { Context, type Effect, Schema } from "effect"
import type { EndpointNotAllowed } from "./EndpointGuard.ts"

/**
 * The installation check, as a port: the response endpoint must accept the test message before
 * the installation exists. The admin API and the CLI ask it; the delivery engine answers it
 * with the same guarded client its deliveries use.
 */

/** The response endpoint did not answer the test message with a 2xx in time. */
export class EndpointVerificationFailed extends Schema.TaggedError<EndpointVerificationFailed>()(
  "EndpointVerificationFailed",
  { url: Schema.String, reason: Schema.String }
) {}

/** The message an installation's response endpoint must accept before the installation exists. */
export const testMessage = { type: "test", payload: "test" } as const

/**
 * POST `{"type":"test","payload":"test"}` and require a 2xx within the time limit, the way the
 * original integration does on install. Redirects are answers, never followed; a URL the
 * endpoint guard refuses fails with `EndpointNotAllowed` before anything is sent.
 */
export class EndpointVerifier extends Context.Service<
  EndpointVerifier,
  { verify(url: string): Effect.Effect<void, EndpointVerificationFailed | EndpointNotAllowed> }
>()("@messaging-api/domain/EndpointVerifier") {}
