import { randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { assertUserError, parseJson, succeeded } from "./CliResult.ts"
import { fileDatabaseUrl } from "./FileDatabase.ts"
import { startReceiver } from "./Receiver.ts"
import { runCli, startServer } from "./ServerProcess.ts"

// The `messaging-api` CLI as an operator runs it: a child process on the run's database, with a
// real response endpoint on 127.0.0.1 and, for tokens, a real `serve` process.

const databaseUrl = await fileDatabaseUrl()
const publicUrl = "https://messaging.example"
const env = { DATABASE_URL: databaseUrl, PUBLIC_URL: `${publicUrl}/` }

/** A response endpoint answering 500 under `/refuse…` and 200 anywhere else. */
const receiver = startReceiver((request) => (request.url?.startsWith("/refuse") ? 500 : 200))

const listed = Effect.gen(function* () {
  const result = yield* runCli(["installations", "list", "--json"], env)
  return JSON.parse(succeeded(result)) as ReadonlyArray<Record<string, unknown>>
})

const postMessage = (webhookUrl: string, token: string) =>
  Effect.promise(async () => {
    const response = await fetch(webhookUrl, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        userId: "cli-user",
        messageId: randomUUID(),
        conversationId: `cli-conversation-${randomUUID()}`,
        type: "text",
        text: "hello from the CLI test"
      })
    })
    return { status: response.status, body: await response.text() }
  })

describe("the messaging-api CLI", () => {
  it.live(
    "installations create asks the response endpoint first, and --json prints id, webhook URL and secret",
    () =>
      Effect.gen(function* () {
        const endpoint = yield* receiver
        const responseUrl = `${endpoint.url}/${randomUUID()}`
        const created = parseJson(
          yield* runCli(
            [
              "installations",
              "create",
              "--bot",
              "echo",
              "--response-url",
              responseUrl,
              "--retry-schedule",
              "1s,5s,30s",
              "--json"
            ],
            env
          )
        )
        assert.deepStrictEqual(Object.keys(created), ["id", "webhookUrl", "signingSecret"])
        const { id, webhookUrl, signingSecret } = created as Record<string, string>
        assert.match(webhookUrl!, new RegExp(`^${publicUrl}/webhooks/[A-Za-z0-9_-]+$`))
        assert.match(signingSecret!, /^whsec_[A-Za-z0-9+/]+=*$/)

        // The endpoint got the test message, exactly, once.
        assert.strictEqual(endpoint.arrivals.length, 1)
        assert.deepStrictEqual(JSON.parse(endpoint.arrivals[0]!.body), { type: "test", payload: "test" })
        assert.match(String(endpoint.arrivals[0]!.headers["content-type"]), /^application\/json/)

        const table = succeeded(yield* runCli(["installations", "list"], env))
        const row = table.split("\n").find((line) => line.startsWith(id!))
        assert.isDefined(row, table)
        assert.include(row!, "echo")
        assert.include(row!, responseUrl)
        assert.include(row!, webhookUrl!)
        assert.include(row!, "1s,5s,30s")
        assert.include(row!, "healthy")
        assert.notInclude(table, signingSecret!, "the table does not show secrets")

        const json = (yield* listed).find((installation) => installation.id === id)
        assert.deepStrictEqual(json, {
          id,
          webhookId: webhookUrl!.split("/").at(-1),
          bot: { _tag: "echo" },
          responseUrl,
          signingSecret,
          retrySchedule: [1_000, 5_000, 30_000],
          createdAt: json?.createdAt,
          webhookUrl,
          endpoint: { status: "healthy" }
        })

        succeeded(yield* runCli(["installations", "delete", id!], env))
        assert.isUndefined((yield* listed).find((installation) => installation.id === id))
      })
  )

  it.live(
    "installations create --bot llm --pull-only: the key from LLM_API_KEY is stored and never printed",
    () =>
      Effect.gen(function* () {
        const key = `sk-cli-${randomUUID()}`
        const llmEnv = { ...env, LLM_API_KEY: key }
        const args = [
          "installations",
          "create",
          "--bot",
          "llm",
          "--bot-url",
          "http://127.0.0.1:11434/v1",
          "--model",
          "llama3.2",
          "--system",
          "Answer briefly.",
          "--history-messages",
          "8",
          "--pull-only"
        ]
        const created = succeeded(yield* runCli(args, llmEnv))
        assert.include(created, "llm llama3.2 at http://127.0.0.1:11434/v1 (key set)")
        assert.include(created, "none (pull-only)")
        assert.notInclude(created, key)
        const id = /Created installation (\S+)/.exec(created)?.[1]
        const json = (yield* listed).find((installation) => installation.id === id)
        assert.deepStrictEqual(json?.bot, {
          _tag: "llm",
          baseUrl: "http://127.0.0.1:11434/v1",
          model: "llama3.2",
          apiKey: "set",
          system: "Answer briefly.",
          historyMessages: 8
        })
        assert.isNull(json?.responseUrl)
        const shown = succeeded(yield* runCli(["installations", "show", id!, "--json"], llmEnv))
        assert.notInclude(shown, key)
        assert.notInclude(succeeded(yield* runCli(["installations", "list"], llmEnv)), key)

        // Either a response URL or --pull-only, and llm flags only with --bot llm.
        assertUserError(
          yield* runCli(["installations", "create", "--bot", "echo"], env),
          /--response-url: is required \(or --pull-only/
        )
        assertUserError(
          yield* runCli(["installations", "create", "--bot", "echo", "--model", "m", "--pull-only"], env),
          /--model: is only used with --bot llm/
        )
        succeeded(yield* runCli(["installations", "delete", id!], env))
      })
  )

  it.live(
    "installations rotate-secret prints the new secret; the old one signs until SECRET_ROTATION_OVERLAP is over",
    () =>
      Effect.gen(function* () {
        const endpoint = yield* receiver
        const overlapEnv = { ...env, SECRET_ROTATION_OVERLAP: "90 seconds" }
        const created = parseJson(
          yield* runCli(
            ["installations", "create", "--response-url", endpoint.url, "--skip-verify", "--json"],
            overlapEnv
          )
        ) as Record<string, string>
        const original = created.signingSecret!

        const before = Date.now()
        const rotated = parseJson(
          yield* runCli(["installations", "rotate-secret", created.id!, "--json"], overlapEnv)
        ) as Record<string, string>
        assert.deepStrictEqual(Object.keys(rotated), ["id", "signingSecret", "previousSecretExpiresAt"])
        assert.strictEqual(rotated.id, created.id)
        assert.match(rotated.signingSecret!, /^whsec_[A-Za-z0-9+/]+=*$/)
        assert.notStrictEqual(rotated.signingSecret, original)
        const until = Date.parse(rotated.previousSecretExpiresAt!)
        assert.isAtLeast(until, before + 90_000)
        assert.isAtMost(until, Date.now() + 90_000)

        const stored = (yield* listed).find((installation) => installation.id === created.id)
        assert.strictEqual(stored?.signingSecret, rotated.signingSecret)
        assert.strictEqual(stored?.previousSecretExpiresAt, rotated.previousSecretExpiresAt)
        assert.notInclude(JSON.stringify(yield* listed), original, "the replaced secret is never listed")

        const text = succeeded(yield* runCli(["installations", "rotate-secret", created.id!], overlapEnv))
        assert.match(text, new RegExp(`^Rotated the signing secret of installation ${created.id}`))
        const latest = (yield* listed).find((installation) => installation.id === created.id)
        assert.include(text, String(latest?.signingSecret))
        assert.include(text, `also signs until ${latest?.previousSecretExpiresAt}`)
        assert.notStrictEqual(latest?.signingSecret, rotated.signingSecret)
      })
  )

  it.live("installations create is refused when the endpoint answers 500, unless --skip-verify", () =>
    Effect.gen(function* () {
      const endpoint = yield* receiver
      const responseUrl = `${endpoint.url.replace(/\/replies$/, "")}/refuse-${randomUUID()}`
      const refused = yield* runCli(
        ["installations", "create", "--bot", "echo", "--response-url", responseUrl],
        env
      )
      assertUserError(refused, /did not accept the test message.*500/)
      assert.strictEqual(endpoint.arrivals.length, 1)
      assert.isUndefined((yield* listed).find((installation) => installation.responseUrl === responseUrl))

      const skipped = yield* runCli(
        ["installations", "create", "--bot", "http", "--bot-url", "http://127.0.0.1:9/bot"].concat([
          "--response-url",
          responseUrl,
          "--skip-verify",
          "--json"
        ]),
        env
      )
      const { id } = parseJson(skipped)
      assert.strictEqual(endpoint.arrivals.length, 1, "not asked this time")
      const stored = (yield* listed).find((installation) => installation.id === id)
      assert.strictEqual(stored?.responseUrl, responseUrl)
      assert.deepStrictEqual(stored?.bot, { _tag: "http", url: "http://127.0.0.1:9/bot" })
    })
  )

  it.live("user errors stop with one line and exit 1", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
        [["installations", "create", "--response-url", "not a url"], /--response-url: .*URL/],
        [["installations", "create", "--response-url", "ftp://example.com/x"], /--response-url: .*http/],
        [
          [
            "installations",
            "create",
            "--response-url",
            "http://127.0.0.1:9/x",
            "--retry-schedule",
            "1s,soon"
          ],
          /--retry-schedule: "soon" is not a duration/
        ],
        [
          ["installations", "create", "--bot", "http", "--response-url", "http://127.0.0.1:9/x"],
          /--bot-url: is required/
        ],
        [["installations", "delete", randomUUID()], /no installation /],
        [["installations", "rotate-secret", randomUUID()], /no installation /],
        [["tokens", "create", "--installation", randomUUID()], /no installation /],
        [["tokens", "create", "--installation", randomUUID(), "--admin"], /no installation /],
        [["tokens", "revoke", "0123456789abcdef"], /no access token 0123456789abcdef/]
      ]
      const results = yield* Effect.forEach(cases, ([args]) => runCli(args, env), { concurrency: 4 })
      results.forEach((result, index) => {
        assertUserError(result, cases[index]![1])
      })
    })
  )

  it.live(
    "tokens create --installation gives a token the server accepts, until tokens revoke",
    () =>
      Effect.gen(function* () {
        const endpoint = yield* receiver
        const server = yield* startServer({ DATABASE_URL: databaseUrl })
        const serverEnv = { DATABASE_URL: databaseUrl, PUBLIC_URL: server.url }
        const installation = parseJson(
          yield* runCli(["installations", "create", "--response-url", endpoint.url, "--json"], serverEnv)
        ) as Record<string, string>
        assert.isTrue(installation.webhookUrl!.startsWith(`${server.url}/webhooks/`))

        const created = parseJson(
          yield* runCli(
            ["tokens", "create", "--installation", installation.id!, "--name", "cli test", "--json"],
            serverEnv
          )
        ) as Record<string, string>
        assert.deepStrictEqual(Object.keys(created), ["id", "token"])
        assert.match(created.token!, /^mapi_/)

        const accepted = yield* postMessage(installation.webhookUrl!, created.token!)
        assert.strictEqual(accepted.status, 200, accepted.body)

        const tokens = JSON.parse(
          succeeded(yield* runCli(["tokens", "list", "--json"], serverEnv))
        ) as ReadonlyArray<Record<string, unknown>>
        const listedToken = tokens.find((token) => token.id === created.id)
        assert.deepStrictEqual(
          { ...listedToken, createdAt: "" },
          {
            id: created.id,
            name: "cli test",
            admin: false,
            installationIds: [installation.id],
            source: "api",
            createdAt: "",
            revokedAt: null
          }
        )
        assert.notInclude(JSON.stringify(tokens), created.token!, "list never shows a secret")

        const revoked = yield* runCli(["tokens", "revoke", created.id!], serverEnv)
        assert.match(succeeded(revoked), new RegExp(`Revoked access token ${created.id}`))
        // The server caches token lookups for at most 500 ms.
        yield* Effect.sleep("1100 millis")
        const refused = yield* postMessage(installation.webhookUrl!, created.token!)
        assert.strictEqual(refused.status, 401, refused.body)
      }),
    { timeout: 120_000 }
  )

  it.live("tokens create without --installation reaches every installation; --admin is explicit", () =>
    Effect.gen(function* () {
      const everywhere = parseJson(yield* runCli(["tokens", "create", "--json"], env)) as Record<
        string,
        string
      >
      const admin = parseJson(yield* runCli(["tokens", "create", "--admin", "--json"], env)) as Record<
        string,
        string
      >
      const tokens = JSON.parse(succeeded(yield* runCli(["tokens", "list", "--json"], env))) as ReadonlyArray<
        Record<string, unknown>
      >
      const find = (id: string | undefined) => tokens.find((token) => token.id === id)
      assert.deepInclude(find(everywhere.id), { admin: false, installationIds: null })
      assert.deepInclude(find(admin.id), { admin: true, installationIds: null })

      const table = succeeded(yield* runCli(["tokens", "list"], env))
      assert.include(table.split("\n").find((line) => line.startsWith(admin.id!)) ?? "", "admin")
      assert.notInclude(table, "mapi_", "the table never shows a secret")
    })
  )
})
