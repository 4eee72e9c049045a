import { adminToken } from "./service-process.ts"

/**
 * An echo installation whose replies go to the bench's receiver, and a personal access token
 * limited to it, both created through the admin API as an operator would (see
 * packages/http/README-api.md).
 */

export interface BenchInstallation {
  readonly id: string
  readonly webhookUrl: string
  /** Bearer token for the webhook. */
  readonly token: string
}

const admin = async <A>(serviceUrl: string, path: string, body: unknown): Promise<A> => {
  const response = await fetch(`${serviceUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`POST ${path} answered ${response.status}: ${text}`)
  return JSON.parse(text) as A
}

export const createEchoInstallation = async (
  serviceUrl: string,
  options: { readonly responseUrl: string; readonly retrySchedule?: ReadonlyArray<number> | string }
): Promise<BenchInstallation> => {
  const installation = await admin<{ id: string; webhookUrl: string }>(serviceUrl, "/v1/installations", {
    bot: { _tag: "echo" },
    responseUrl: options.responseUrl,
    retrySchedule: options.retrySchedule ?? "1s,5s,30s",
    skipVerify: true
  })
  const token = await admin<{ token: string }>(serviceUrl, "/v1/tokens", {
    name: "bench",
    installationIds: [installation.id]
  })
  return { id: installation.id, webhookUrl: installation.webhookUrl, token: token.token }
}
