import { randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { assertUserError, parseJson, succeeded } from "./CliResult.ts"
import { fileDatabaseUrl } from "./FileDatabase.ts"
import { startReceiver } from "./Receiver.ts"
import { request } from "./ServerApi.ts"
import { adminToken, runCli, startServer } from "./ServerProcess.ts"

// `messaging-api conversations list|show` as an operator runs them: conversations written by a real
// `serve` (webhook in, echo bot, replies delivered to a real endpoint on 127.0.0.1, one refused with
// a 404), read back by the CLI in a child process and compared with what the history API answers.

const databaseUrl = await fileDatabaseUrl()
const env = { DATABASE_URL: databaseUrl, MIN_RETRY_DELAY: "1 millis" }

/**
 * An echo installation with two conversations: "older" (two messages, both replies delivered),
 * then "newer" (one message, its reply refused with a 404 and dead-lettered). Resolves once every
 * reply is delivered or dead-lettered.
 */
const twoConversations = Effect.gen(function* () {
  const receiver = yield* startReceiver((incoming, body) =>
    incoming.url?.endsWith("/replies") && body.includes("refuse me") ? 404 : 200
  )
  const server = yield* startServer(env)
  const created = yield* request("POST", `${server.url}/v1/installations`, adminToken, {
    bot: { _tag: "echo" },
    responseUrl: `${receiver.url}/replies`,
    retrySchedule: "10ms,20ms",
    skipVerify: true
  })
  assert.strictEqual(created.status, 201, created.text)
  const older = `older-${randomUUID()}`
  const newer = `newer-${randomUUID()}`
  const settled = (conversationId: string, outcomes: number) =>
    Effect.gen(function* () {
      while (true) {
        const page = yield* request(
          "GET",
          `${server.url}/v1/conversations/${conversationId}/events?limit=100`,
          adminToken
        )
        const types = (page.json.items as ReadonlyArray<{ type: string }>).map((event) => event.type)
        const done = types.filter((type) => type === "MessageDelivered" || type === "MessageDeadLettered")
        if (done.length === outcomes) return
        yield* Effect.sleep("50 millis")
      }
    })
  const ids: Record<string, string> = {}
  // Each message once the one before it is answered, so every conversation reads user, bot, user, bot.
  for (const [conversation, text, outcomes] of [
    [older, "first", 1],
    [older, "second", 2],
    [newer, "refuse me", 1]
  ] as const) {
    const sent = yield* request("POST", created.json.webhookUrl, adminToken, {
      userId: "cli-user",
      messageId: randomUUID(),
      conversationId: conversation,
      type: "text",
      text
    })
    assert.strictEqual(sent.status, 200, sent.text)
    ids[conversation] = sent.json.conversation.id
    yield* settled(ids[conversation]!, outcomes)
  }
  return {
    server,
    installationId: created.json.id as string,
    older: { external: older, id: ids[older]! },
    newer: { external: newer, id: ids[newer]! }
  }
})

describe("messaging-api conversations", () => {
  it.live(
    "list: newest first, paged with --limit and --cursor, by --installation or --conversation; show: counts and messages",
    () =>
      Effect.gen(function* () {
        const { server, installationId, older, newer } = yield* twoConversations
        const scope = ["--installation", installationId]

        // list --json: the page the history API answers, newest first
        const page = parseJson(yield* runCli(["conversations", "list", ...scope, "--json"], env))
        assert.deepStrictEqual(
          page.items.map((item: { id: string }) => item.id),
          [newer.id, older.id]
        )
        assert.isNull(page.nextCursor)
        const api = yield* request(
          "GET",
          `${server.url}/v1/conversations?installationId=${installationId}`,
          adminToken
        )
        assert.deepStrictEqual(page, api.json)
        assert.deepInclude(page.items[1], {
          installationId,
          externalConversationId: older.external,
          userMessageCount: 2,
          botMessageCount: 2,
          openTurnCount: 0,
          pendingCount: 0,
          deliveredCount: 2,
          deadLetteredCount: 0
        })
        assert.deepInclude(page.items[0], { botMessageCount: 1, deliveredCount: 0, deadLetteredCount: 1 })

        // --limit 1: one page at a time, the next page's cursor handed back
        const first = parseJson(
          yield* runCli(["conversations", "list", ...scope, "--limit", "1", "--json"], env)
        )
        assert.deepStrictEqual(first.items, [page.items[0]])
        assert.isString(first.nextCursor)
        const second = parseJson(
          yield* runCli(
            ["conversations", "list", ...scope, "--limit", "1", "--cursor", first.nextCursor, "--json"],
            env
          )
        )
        assert.deepStrictEqual(second, { items: [page.items[1]], nextCursor: null })

        // --conversation: by the application's conversationId
        const found = parseJson(
          yield* runCli(["conversations", "list", "--conversation", older.external, "--json"], env)
        )
        assert.deepStrictEqual(found, { items: [page.items[1]], nextCursor: null })

        // Text: a table, newest first; a cut-off page ends with the next page's --cursor
        const table = succeeded(yield* runCli(["conversations", "list", ...scope], env))
          .trimEnd()
          .split("\n")
        assert.match(
          table[0]!,
          /^CONVERSATION ID +INSTALLATION ID +CONVERSATION +STARTED +LAST ACTIVITY +USER +BOT +PENDING +DEAD$/
        )
        assert.strictEqual(table.length, 3, table.join("\n"))
        assert.match(
          table[1]!,
          new RegExp(`^${newer.id} +${installationId} +${newer.external} .* 1 +1 +0 +1$`)
        )
        assert.match(
          table[2]!,
          new RegExp(`^${older.id} +${installationId} +${older.external} .* 2 +2 +0 +0$`)
        )
        const cut = succeeded(yield* runCli(["conversations", "list", ...scope, "--limit", "1"], env))
          .trimEnd()
          .split("\n")
        assert.strictEqual(cut.at(-1), `More: --cursor ${first.nextCursor}`)

        // show --json: the conversation and its messages, as the history API answers them
        const shown = parseJson(yield* runCli(["conversations", "show", older.id, "--json"], env))
        assert.deepStrictEqual(shown.conversation, page.items[1])
        const messages = yield* request(
          "GET",
          `${server.url}/v1/conversations/${older.id}/messages?limit=200`,
          adminToken
        )
        assert.deepStrictEqual(shown.messages, messages.json.items)
        assert.deepStrictEqual(
          shown.messages.map((message: { direction: string }) => message.direction),
          ["user", "bot", "user", "bot"]
        )

        // show: the counts, then one row a message with its turn or delivery
        const text = succeeded(yield* runCli(["conversations", "show", older.id], env))
          .trimEnd()
          .split("\n")
        assert.deepStrictEqual(text.slice(0, 8), [
          `Conversation ${older.id} (${JSON.stringify(older.external)})`,
          `  installation   ${installationId}`,
          `  started        ${page.items[1].startedAt}`,
          `  last activity  ${page.items[1].lastActivityAt}`,
          `  version        ${page.items[1].version}`,
          "  messages       2 from users, 2 from the bot",
          "  open turns     0",
          "  deliveries     0 pending, 2 delivered, 0 dead-lettered"
        ])
        assert.strictEqual(text[8], "")
        assert.match(text[9]!, /^POS +FROM +MESSAGE ID +TYPE +CREATED +STATUS +CONTENT$/)
        const rows = text.slice(10)
        assert.strictEqual(rows.length, 4, text.join("\n"))
        assert.match(rows[0]!, /^\d+ +user "cli-user" +[\da-f-]{36} +text +\S+ +turn completed +"first"$/)
        assert.match(rows[1]!, /^\d+ +bot +[\da-f-]{36} +text +\S+ +delivered after 1 attempt\(s\) +"first"$/)
        assert.match(
          rows[3]!,
          /^\d+ +bot +[\da-f-]{36} +text +\S+ +delivered after 1 attempt\(s\) +"second"$/
        )

        // The dead letter shows its last answer
        const dead = succeeded(yield* runCli(["conversations", "show", newer.id], env))
        assert.include(dead, "  deliveries     0 pending, 0 delivered, 1 dead-lettered")
        assert.match(
          dead,
          /bot +[\da-f-]{36} +text +\S+ +dead_lettered after 1 attempt\(s\), last HTTP 404 +"refuse me"/
        )
      }),
    { timeout: 120_000 }
  )

  it.live(
    "an unknown conversation, a malformed installation id or cursor stops with one line and exit 1",
    () =>
      Effect.gen(function* () {
        const unknown = randomUUID()
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
          [["conversations", "show", unknown], new RegExp(`<conversation-id>: no conversation ${unknown}`)],
          [["conversations", "show", "not-an-id", "--json"], /no conversation not-an-id/],
          [
            ["conversations", "list", "--installation", "nope"],
            /--installation: nope is not an installation id/
          ],
          [
            ["conversations", "list", "--cursor", "garbage"],
            /--cursor: the cursor is not one this list handed out/
          ]
        ]
        const results = yield* Effect.forEach(cases, ([args]) => runCli(args, env), { concurrency: 2 })
        results.forEach((result, index) => {
          assertUserError(result, cases[index]![1])
        })
        // An installation with no conversations is an empty list, not an error
        const empty = succeeded(yield* runCli(["conversations", "list", "--installation", randomUUID()], env))
        assert.strictEqual(empty, "No conversations.\n")
        assert.deepStrictEqual(
          parseJson(yield* runCli(["conversations", "list", "--installation", randomUUID(), "--json"], env)),
          { items: [], nextCursor: null }
        )
      })
  )
})
