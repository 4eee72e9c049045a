import { assert, describe, it } from "@effect/vitest"
import { jsonProblem, MAX_JSON_DEPTH, textProblem } from "../src/Storable.ts"

const nested = (depth: number): unknown => {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { inner: value }
  return value
}

describe("Storable", () => {
  it("refuses text with NUL or a lone surrogate, and keeps well-formed unicode", () => {
    assert.isUndefined(textProblem("café 🦊 \u{1F600}"))
    assert.match(textProblem("a\u0000b") ?? "", /NUL/)
    assert.match(textProblem("\ud800") ?? "", /surrogate/)
    assert.match(textProblem("x\udc00y") ?? "", /surrogate/)
  })

  it("says where inside the JSON the problem is", () => {
    assert.isUndefined(jsonProblem({ a: [{ b: "fine" }], n: null, t: true }))
    assert.strictEqual(
      jsonProblem({ a: [{ b: "x\u0000" }] }),
      "at a[0].b: must not contain NUL characters (\\u0000)"
    )
    assert.match(jsonProblem({ ok: { "\ud800": 1 } }) ?? "", /^at ok\.\ud800: the key must not contain lone/)
    assert.match(jsonProblem(["\udfff"]) ?? "", /^at \[0\]: /)
  })

  it(`accepts ${MAX_JSON_DEPTH} levels of nesting and refuses one more, at any depth without recursion`, () => {
    assert.isUndefined(jsonProblem(nested(MAX_JSON_DEPTH)))
    assert.match(jsonProblem(nested(MAX_JSON_DEPTH + 1)) ?? "", /nested deeper than 64 levels/)
    assert.match(jsonProblem(nested(200_000)) ?? "", /nested deeper than 64 levels/)
  })
})
