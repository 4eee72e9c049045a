import { randomUUID } from "node:crypto"
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import { adminToken } from "./ServerProcess.ts"

/** The running server's API as the tests call it: raw requests, and the few steps every test takes. */

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

/** An installation made with the admin token (`skipVerify` unless `body` says otherwise), and a token limited to it. */
export const installationWithToken = (serverUrl: string, body: Readonly<Record<string, unknown>>) =>
  Effect.gen(function* () {
    const created = yield* request("POST", `${serverUrl}/v1/installations`, adminToken, {
      skipVerify: true,
      ...body
    })
    assert.strictEqual(created.status, 201, created.text)
    const token = yield* request("POST", `${serverUrl}/v1/tokens`, adminToken, {
      name: "test",
      installationIds: [created.json.id]
    })
    assert.strictEqual(token.status, 201, token.text)
    return {
      id: created.json.id as string,
      webhookUrl: created.json.webhookUrl as string,
      token: token.json.token as string,
      // biome-ignore lint/suspicious/noExplicitAny: test assertions read into arbitrary JSON
      installation: created.json as any
    }
  })

/**
 * Sends user messages `texts` to one conversation (a new one unless `conversation` names it), each
 * answered 200; answers its botpress conversation id.
 */
export const converse = (
  target: { readonly webhookUrl: string; readonly token: string },
  texts: ReadonlyArray<string>,
  options: { readonly conversation?: string; readonly user?: string } = {}
) =>
  Effect.gen(function* () {
    const external = options.conversation ?? `conversation-${randomUUID()}`
    let conversationId = ""
    for (const text of texts) {
      const sent = yield* request("POST", target.webhookUrl, target.token, {
        userId: options.user ?? "user-1",
        messageId: randomUUID(),
        conversationId: external,
        type: "text",
        text
      })
      assert.strictEqual(sent.status, 200, sent.text)
      conversationId = sent.json.conversation.id
    }
    return conversationId
  })
