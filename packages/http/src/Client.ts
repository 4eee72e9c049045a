import { type Effect, identity, Redacted } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { Api } from "./Api.ts"

/** The typed client of the whole API: `client.installations.create(...)`, `client.readyz()`, ... */
export type Client = HttpApiClient.ForApi<typeof Api>

export interface ClientOptions {
  /** Where the service is, e.g. `http://localhost:3000`. */
  readonly baseUrl: string | URL
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string | Redacted.Redacted<string> | undefined
}

/** A typed client for embedders and scripts; needs an `HttpClient` (e.g. `FetchHttpClient.layer`). */
export const makeClient = (options: ClientOptions): Effect.Effect<Client, never, HttpClient.HttpClient> => {
  const token = options.token
  return HttpApiClient.make(Api, {
    baseUrl: options.baseUrl,
    transformClient:
      token === undefined
        ? identity
        : HttpClient.mapRequest(
            HttpClientRequest.bearerToken(Redacted.isRedacted(token) ? Redacted.value(token) : token)
          )
  })
}
