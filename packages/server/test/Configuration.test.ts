import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { inject } from "vitest"
import { serverConfig } from "../src/ServerConfig.ts"
import { runCli } from "./ServerProcess.ts"

// Invalid configuration stops the process with one line naming the problem and a non-zero exit.
describe("configuration errors", () => {
  const cases: ReadonlyArray<{ name: string; env: Record<string, string>; expected: RegExp }> = [
    { name: "PORT=abc", env: { PORT: "abc", DATABASE_URL: inject("databaseUrl") }, expected: /PORT/ },
    { name: "unparsable DATABASE_URL", env: { DATABASE_URL: "not a url" }, expected: /DATABASE_URL/ },
    {
      name: "SECRET_ROTATION_OVERLAP=soon",
      env: { SECRET_ROTATION_OVERLAP: "soon", DATABASE_URL: inject("databaseUrl") },
      expected: /SECRET_ROTATION_OVERLAP/
    },
    {
      name: "unreachable database",
      env: { DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere" },
      expected: /cannot connect to the database/
    },
    {
      name: "ALLOWED_ENDPOINT_NETWORKS with a bad range",
      env: { DATABASE_URL: inject("databaseUrl"), ALLOWED_ENDPOINT_NETWORKS: "127.0.0.0/8,10.0.0.0/99" },
      expected: /ALLOWED_ENDPOINT_NETWORKS.*prefix/
    },
    {
      name: "CLUSTER_SHARDS=0",
      env: { DATABASE_URL: inject("databaseUrl"), CLUSTER_SHARDS: "0" },
      expected: /CLUSTER_SHARDS/
    }
  ]
  for (const { name, env, expected } of cases) {
    it.live(name, () =>
      Effect.gen(function* () {
        const result = yield* runCli(["migrate"], env)
        assert.strictEqual(result.code, 1)
        const lines = result.stderr.trim().split("\n")
        assert.strictEqual(lines.length, 1, `one line, got:\n${result.stderr}`)
        assert.match(lines[0]!, /^messaging-api: /)
        assert.match(lines[0]!, expected)
        assert.notMatch(result.stderr, /\bat .*\.ts:\d+/, "no stack trace")
      })
    )
  }

  it.live("serve refuses CLUSTER_PORT on the embedded database, which one process uses alone", () =>
    Effect.gen(function* () {
      const result = yield* runCli(["serve"], {
        DATABASE_URL: "",
        DATA_DIR: "/nonexistent/messaging-api-cluster-check",
        CLUSTER_PORT: "7946"
      })
      assert.strictEqual(result.code, 1)
      const lines = result.stderr.trim().split("\n")
      assert.strictEqual(lines.length, 1, `one line, got:\n${result.stderr}`)
      assert.match(lines[0]!, /^messaging-api: CLUSTER_PORT needs DATABASE_URL/)
    })
  )

  it.live("migrate succeeds twice on the same database", () =>
    Effect.gen(function* () {
      const env = { DATABASE_URL: inject("databaseUrl") }
      const [first, second] = yield* Effect.all([runCli(["migrate"], env), runCli(["migrate"], env)], {
        concurrency: 2
      })
      assert.strictEqual(first.code, 0, first.stderr)
      assert.strictEqual(second.code, 0, second.stderr)
    })
  )
})

describe("ALLOWED_ENDPOINT_NETWORKS", () => {
  const allowedWith = (env: Record<string, string>) =>
    serverConfig
      .parse(ConfigProvider.fromEnv({ env }))
      .pipe(Effect.map((config) => config.allowedEndpointNetworks))

  it.effect(
    "opens loopback by default only on the embedded database, and exactly what is set otherwise",
    () =>
      Effect.gen(function* () {
        assert.deepStrictEqual(yield* allowedWith({}), ["127.0.0.0/8", "::1/128"])
        assert.deepStrictEqual(yield* allowedWith({ DATABASE_URL: "postgres://db.example/app" }), [])
        assert.deepStrictEqual(yield* allowedWith({ ALLOWED_ENDPOINT_NETWORKS: "none" }), [])
        assert.deepStrictEqual(
          yield* allowedWith({
            DATABASE_URL: "postgres://db.example/app",
            ALLOWED_ENDPOINT_NETWORKS: "10.1.0.0/16, ::1"
          }),
          ["10.1.0.0/16", "::1"]
        )
      })
  )
})
