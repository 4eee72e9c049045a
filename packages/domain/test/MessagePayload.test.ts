import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { validate } from "../src/MessagePayload.ts"

const card = {
  title: "A card",
  subtitle: "below",
  imageUrl: "https://example.com/a.png",
  actions: [{ action: "url", label: "Open", value: "https://example.com" }]
}

const valid: ReadonlyArray<readonly [string, unknown]> = [
  ["text", { text: "hi" }],
  ["text", { text: "hi", extra: true }],
  ["markdown", { markdown: "**hi**" }],
  ["image", { imageUrl: "https://example.com/a.png" }],
  ["audio", { audioUrl: "https://example.com/a.mp3" }],
  ["video", { videoUrl: "https://example.com/a.mp4" }],
  ["file", { fileUrl: "https://example.com/a.pdf", title: "A" }],
  ["file", { fileUrl: "https://example.com/a.pdf" }],
  ["location", { latitude: 45.5, longitude: -73.6, address: "here", title: "There" }],
  ["card", card],
  ["card", { title: "Bare", actions: [] }],
  ["carousel", { items: [card, card] }],
  ["choice", { text: "Pick", options: [{ label: "A", value: "a" }] }],
  ["dropdown", { text: "Pick", options: [] }],
  ["custom", "anything at all"],
  ["test", "test"]
]

const invalid: ReadonlyArray<readonly [string, unknown]> = [
  ["text", { text: "" }],
  ["text", "hi"],
  ["markdown", { text: "hi" }],
  ["image", {}],
  ["audio", { audioUrl: 3 }],
  ["video", null],
  ["file", { fileUrl: "x", title: "" }],
  ["location", { latitude: "45", longitude: 0 }],
  ["card", { title: "No actions" }],
  ["card", { ...card, actions: [{ action: "call", label: "x", value: "y" }] }],
  ["carousel", { items: [{ title: "", actions: [] }] }],
  ["choice", { text: "Pick", options: [{ label: "A" }] }],
  ["dropdown", { options: [] }]
]

describe("MessagePayload", () => {
  it.effect("accepts Botpress's payload shapes and lets other types through", () =>
    Effect.forEach(valid, ([type, payload]) =>
      validate(type, payload).pipe(
        Effect.catch((error) =>
          Effect.sync(() => assert.fail(`${type} ${JSON.stringify(payload)}: ${error.message}`))
        )
      )
    )
  )

  it.effect("refuses payloads that do not match their type, naming the type", () =>
    Effect.forEach(invalid, ([type, payload]) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(validate(type, payload))
        assert.strictEqual(error._tag, "InvalidMessagePayload")
        assert.strictEqual(error.type, type)
      })
    )
  )
})
