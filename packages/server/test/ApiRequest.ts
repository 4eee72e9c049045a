import { Effect } from "effect"

/** What a request to the running server answered: its status, its text, and the text as JSON when it is JSON. */
export interface JsonResponse {
  readonly status: number
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read into arbitrary JSON
  readonly json: any
  readonly text: string
}

/** One request with `token` as the bearer (none when undefined) and `body` as JSON. */
export const request = (method: string, url: string, token: string | undefined, body?: unknown) =>
  Effect.promise(async (): Promise<JsonResponse> => {
    const response = await fetch(url, {
      method,
      headers: {
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { "content-type": "application/json" })
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    let json: unknown = null
    try {
      json = text === "" ? null : JSON.parse(text)
    } catch {}
    return { status: response.status, json, text }
  })

/** Polls until `check` gives a value; the test's timeout bounds it. */
export const eventually = <A>(check: Effect.Effect<A | undefined>) =>
  Effect.gen(function* () {
    while (true) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.sleep("20 millis")
    }
  })
