import { randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { assertUserError, ndjson, succeeded } from "./CliResult.ts"
import { fileDatabaseUrl } from "./FileDatabase.ts"
import { startReceiver } from "./Receiver.ts"
import { converse, eventually, installationWithToken, request } from "./ServerApi.ts"
import { adminToken, runCli, startServer } from "./ServerProcess.ts"

// `messaging-api replay` as an operator runs it: a conversation written by a real `serve` (webhook
// in, echo bot, delivered to a real endpoint on 127.0.0.1), then read back from the event log by
// the CLI in a child process and compared with the events the server's API returns from the log.

const databaseUrl = await fileDatabaseUrl()
const env = { DATABASE_URL: databaseUrl, MIN_RETRY_DELAY: "1 millis" }

/** One event of a stream as `GET /v1/conversations/{id}/events` returns it. */
interface StoredEvent {
  readonly eventId: string
  readonly version: number
  readonly position: number
  readonly type: string
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read into arbitrary JSON
  readonly data: any
  readonly metadata: unknown
  readonly recordedAt: string
}

/**
 * Two user messages to one conversation of a new echo installation, through a real server; resolves
 * with the stored events once both replies are recorded as delivered (nothing is pending after that).
 */
const deliveredConversation = Effect.gen(function* () {
  const receiver = yield* startReceiver(() => 200)
  const server = yield* startServer(env)
  const installation = yield* installationWithToken(server.url, {
    bot: { _tag: "echo" },
    responseUrl: receiver.url,
    retrySchedule: "10ms,20ms"
  })
  const external = `replay-${randomUUID()}`
  const conversationId = yield* converse(installation, ["first", "second"], {
    conversation: external,
    user: "replay-user"
  })
  const events = yield* storedEvents(
    server.url,
    conversationId,
    (events) => events.filter((event) => event.type === "MessageDelivered").length === 2
  )
  return { installationId: installation.id, external, conversationId, events }
})

/** The conversation's events as the API returns them from the log, once `complete` says all are there. */
const storedEvents = (
  serverUrl: string,
  conversationId: string,
  complete: (events: ReadonlyArray<StoredEvent>) => boolean
) =>
  eventually(
    Effect.gen(function* () {
      const page = yield* request(
        "GET",
        `${serverUrl}/v1/conversations/${conversationId}/events?limit=100`,
        adminToken
      )
      assert.strictEqual(page.status, 200, page.text)
      const events = page.json.items as ReadonlyArray<StoredEvent>
      return complete(events) ? events : undefined
    })
  )

describe("messaging-api replay", () => {
  it.live(
    "prints the timeline and the folded state; --json, --until and --installation/--conversation",
    () =>
      Effect.gen(function* () {
        const { installationId, external, conversationId, events } = yield* deliveredConversation
        const last = events.length
        const replies = events.filter((event) => event.type === "BotMessageEmitted")
        assert.strictEqual(replies.length, 2)
        const attemptsOf = (reply: StoredEvent) =>
          events.find(
            (event) => event.type === "MessageDelivered" && event.data.messageId === reply.data.messageId
          )?.data.attempt

        // Text: a header, one line per event in stream order, a blank line, then the state.
        const text = succeeded(yield* runCli(["replay", conversationId], env))
        const lines = text.trimEnd().split("\n")
        assert.strictEqual(lines[0], `conversation ${conversationId}: ${last} event(s)`)
        events.forEach((event, i) => {
          assert.match(
            lines[i + 1]!,
            new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  v${event.version} +${event.type} `),
            text
          )
        })
        const typeColumns = new Set(events.map((event, i) => lines[i + 1]!.indexOf(` ${event.type} `)))
        assert.strictEqual(typeColumns.size, 1, `the type column does not shift:\n${text}`)
        assert.include(lines[1]!, `conversation "${external}" in installation ${installationId}`)
        assert.match(text, /user "replay-user" sent "[^"]+" \([\da-f-]+\) text: "first"/)
        assert.include(text, `bot message ${replies[0]!.data.messageId} text: "first"`)
        assert.strictEqual(lines[last + 1], "")
        // The state lists messages by time; compare the bot messages' lines as a set.
        const summary = lines.slice(last + 2)
        assert.deepStrictEqual(
          [...summary.slice(0, 8), ...summary.slice(8).sort()],
          [
            `state at version ${last}`,
            `  conversation  ${conversationId} (${JSON.stringify(external)})`,
            `  installation  ${installationId}`,
            `  started       ${events[0]!.data.startedAt}`,
            "  user messages 2",
            "  open turns    none",
            "  outbox        empty",
            "  bot messages",
            ...replies
              .map(
                (reply) => `    ${reply.data.messageId} text delivered after ${attemptsOf(reply)} attempt(s)`
              )
              .sort()
          ]
        )

        // NDJSON: the stored events, field for field, then the state.
        const records = ndjson(yield* runCli(["replay", conversationId, "--json"], env))
        assert.strictEqual(records.length, last + 1)
        assert.deepStrictEqual(
          records
            .slice(0, -1)
            .map(({ kind, eventId, version, position, type, data, metadata, recordedAt }) => ({
              kind,
              eventId,
              version,
              position,
              type,
              data,
              metadata,
              recordedAt
            })),
          events.map((event) => ({ kind: "event", ...event }))
        )
        const state = records.at(-1)
        assert.strictEqual(state.kind, "state")
        assert.strictEqual(state.version, last)
        assert.deepInclude(state.started, {
          conversationId,
          installationId,
          externalConversationId: external
        })
        assert.deepStrictEqual(state.userMessages.map((message: { text: string }) => message.text).sort(), [
          "first",
          "second"
        ])
        assert.deepStrictEqual(state.openTurns, [])
        assert.deepStrictEqual(state.outbox, [])
        assert.deepStrictEqual(
          state.botMessages
            .map((message: { messageId: string; status: string }) => `${message.messageId} ${message.status}`)
            .sort(),
          replies.map((reply) => `${reply.data.messageId} delivered`).sort()
        )

        // --until 2: the conversation started and its first message received, its turn still open.
        const early = ndjson(yield* runCli(["replay", conversationId, "--until", "2", "--json"], env))
        assert.deepStrictEqual(
          early.map((record) => [record.kind, record.version, record.type]),
          [
            ["event", 1, "ConversationStarted"],
            ["event", 2, "UserMessageReceived"],
            ["state", 2, undefined]
          ]
        )
        const earlyState = early[2]
        assert.strictEqual(earlyState.userMessages.length, 1)
        assert.deepStrictEqual(
          earlyState.openTurns.map((turn: { userMessageId: string }) => turn.userMessageId),
          [events[1]!.data.messageId]
        )
        assert.deepStrictEqual([earlyState.outbox, earlyState.botMessages], [[], []])
        const earlyText = succeeded(yield* runCli(["replay", conversationId, "--until", "2"], env))
        assert.include(earlyText, `… ${last - 2} later event(s) left out by --until`)
        assert.include(earlyText, "state at version 2\n")
        assert.include(earlyText, `    ${events[1]!.data.messageId} (failures 0)`)

        // By the installation and the application's conversation id: the same conversation.
        const byExternal = yield* runCli(
          ["replay", "--installation", installationId, "--conversation", external],
          env
        )
        assert.strictEqual(succeeded(byExternal), text)
      }),
    { timeout: 120_000 }
  )

  it.live("a reply the endpoint answers 404 reads as dead-lettered, not as a retry due at once", () =>
    Effect.gen(function* () {
      // Given a conversation whose reply the response endpoint refuses with a 404
      const receiver = yield* startReceiver(() => 404)
      const server = yield* startServer(env)
      const installation = yield* installationWithToken(server.url, {
        bot: { _tag: "echo" },
        responseUrl: receiver.url
      })
      const conversationId = yield* converse(installation, ["refused"], { user: "replay-user" })
      yield* storedEvents(server.url, conversationId, (events) =>
        events.some((event) => event.type === "MessageDeadLettered")
      )
      // When it is replayed
      const text = succeeded(yield* runCli(["replay", conversationId], env))
      // Then the failed attempt says it was not retried, and the dead letter follows it
      const failed = text.split("\n").find((line) => line.includes(" DeliveryAttemptFailed "))
      assert.isDefined(failed, text)
      assert.match(failed!, /failed \(attempt 1, HTTP 404, \d+ ms\): .*; not retried \(dead-lettered\)$/)
      assert.notInclude(text, "retry at", text)
      assert.match(text, /MessageDeadLettered +dead-lettered [\da-f-]+ \(attempt 1, HTTP 404\)/)
      const records = ndjson(yield* runCli(["replay", conversationId, "--json"], env))
      assert.match(
        records.find((record) => record.type === "DeliveryAttemptFailed").description,
        /not retried \(dead-lettered\)$/
      )
    })
  )

  it.live("an unknown or malformed conversation id stops with one line and exit 1", () =>
    Effect.gen(function* () {
      const unknown = randomUUID()
      assertUserError(
        yield* runCli(["replay", unknown], env),
        new RegExp(`no conversation ${unknown} in the event log`)
      )
      assertUserError(yield* runCli(["replay", "not-an-id"], env), /not-an-id is not a conversation id/)
    })
  )

  it.live("--rebuild-projections projects the whole log again and prints the counts", () =>
    Effect.gen(function* () {
      const output = succeeded(yield* runCli(["replay", "--rebuild-projections"], env))
      const lines = output.trimEnd().split("\n")
      assert.match(lines[0]!, /^Rebuilt the read models from the event log in \d+ ms:$/)
      assert.match(lines[1]!, /^ {2}conversations {6}\d+$/)
      assert.match(lines[2]!, /^ {2}messages {11}\d+$/)
      assert.match(lines[3]!, /^ {2}delivery attempts {2}\d+$/)
      assert.match(lines[4]!, /^ {2}checkpoint {9}transaction \d+, position \d+$/)
      assert.strictEqual(lines.length, 5)

      const json = ndjson(yield* runCli(["replay", "--rebuild-projections", "--json"], env))
      assert.strictEqual(json.length, 1)
      assert.strictEqual(json[0].kind, "rebuild")
      // At least the conversation of the first test: two user messages, two replies, two attempts.
      assert.isAtLeast(json[0].conversations, 1)
      assert.isAtLeast(json[0].messages, 4)
      assert.isAtLeast(json[0].deliveryAttempts, 2)
    })
  )
})
