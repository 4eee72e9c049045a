import { execFile } from "node:child_process"
import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import { CompleteBotTurn } from "../src/ConversationCommands.ts"
import { conversationIdFor, newMessageId, userMessageIdFor } from "../src/Ids.ts"
import { summarize } from "../src/Timeline.ts"
import { deadLettered, execute, newInstallation, receive, TestLayer } from "./ProjectionFixtures.ts"

const example = fileURLToPath(new URL("../examples/embedding.ts", import.meta.url))
const readme = fileURLToPath(new URL("../README.md", import.meta.url))

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })("Embedding", (it) => {
  it.effect("the README's example runs as its own process and prints the folded state", () =>
    Effect.gen(function* () {
      const installation = newInstallation()
      const conversationId = conversationIdFor(installation, "embedded")
      yield* execute(conversationId, receive(installation, "embedded", "e-1", "from another app"))
      const reply = newMessageId()
      yield* execute(
        conversationId,
        new CompleteBotTurn({
          userMessageId: userMessageIdFor(installation, "e-1"),
          messages: [{ messageId: reply, type: "text", payload: { text: "hello, embedder" } }],
          at: new Date().toISOString()
        })
      )
      const last = yield* execute(conversationId, deadLettered(reply))

      const { stdout } = yield* Effect.promise(() =>
        promisify(execFile)(process.execPath, [example, conversationId], {
          env: { ...process.env, DATABASE_URL: inject("databaseUrl") },
          timeout: 30_000
        })
      )
      assert.deepStrictEqual(
        JSON.parse(stdout),
        JSON.parse(JSON.stringify(summarize(last.state, last.version)))
      )
      assert.strictEqual(JSON.parse(stdout).botMessages[0].status, "dead_lettered")

      // The README shows exactly the code that ran.
      const shown = /```ts\n([\s\S]*?)```/.exec(yield* Effect.promise(() => readFile(readme, "utf8")))?.[1]
      assert.strictEqual(shown, yield* Effect.promise(() => readFile(example, "utf8")))
    })
  )
})
