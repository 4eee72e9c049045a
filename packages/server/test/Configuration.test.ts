import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import type { AddressInfo } from "node:net"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
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
      name: "MESSAGING_API_ADMIN_TOKEN=short",
      env: { MESSAGING_API_ADMIN_TOKEN: "short", DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere" },
      expected: /MESSAGING_API_ADMIN_TOKEN: must be at least 16 characters/
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

  it.live("serve on an address another process listens on names it in one line", () =>
    Effect.gen(function* () {
      const taken = createServer()
      yield* Effect.callback<void>((resume) => {
        taken.listen(0, "127.0.0.1", () => resume(Effect.void))
      })
      yield* Effect.addFinalizer(() =>
        Effect.callback<void>((resume) => void taken.close(() => resume(Effect.void)))
      )
      const { port } = taken.address() as AddressInfo
      const result = yield* runCli(["serve"], {
        DATABASE_URL: inject("databaseUrl"),
        HOST: "127.0.0.1",
        PORT: String(port)
      })
      assert.strictEqual(result.code, 1)
      const lines = result.stderr.trim().split("\n")
      assert.strictEqual(lines.length, 1, `one line, got:\n${result.stderr}`)
      assert.match(
        lines[0]!,
        new RegExp(`^messaging-api: cannot serve HTTP: .*EADDRINUSE.*127\\.0\\.0\\.1:${port}.*set PORT`)
      )
    }).pipe(Effect.scoped)
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

describe("logging and tracing settings", () => {
  const parse = (env: Record<string, string>) => serverConfig.parse(ConfigProvider.fromEnv({ env }))

  it.effect("LOG_LEVEL takes the usual names in any case", () =>
    Effect.gen(function* () {
      const levels: Record<string, string> = {
        trace: "Trace",
        DEBUG: "Debug",
        Info: "Info",
        warn: "Warn",
        WARNING: "Warn",
        error: "Error",
        Fatal: "Fatal",
        none: "None"
      }
      for (const [text, level] of Object.entries(levels)) {
        assert.strictEqual((yield* parse({ LOG_LEVEL: text })).logLevel, level, text)
      }
      const bad = yield* Effect.flip(parse({ LOG_LEVEL: "loud" }))
      assert.include(String(bad), "LOG_LEVEL")
      assert.strictEqual((yield* parse({ LOG_FORMAT: "JSON" })).logFormat, "json")
      assert.include(String(yield* Effect.flip(parse({ LOG_FORMAT: "xml" }))), "LOG_FORMAT")
    })
  )

  it.effect(
    "traces go to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces, protobuf unless told, off without an endpoint",
    () =>
      Effect.gen(function* () {
        assert.isUndefined((yield* parse({})).tracing)
        const tracing = (yield* parse({
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/",
          OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20abc,x-team=ops"
        })).tracing
        assert.deepInclude(tracing, {
          url: "http://collector:4318/v1/traces",
          protocol: "http/protobuf",
          serviceName: "messaging-api",
          headers: { authorization: "Bearer abc", "x-team": "ops" }
        })
        const json = (yield* parse({
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/custom",
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_SERVICE_NAME: "edge"
        })).tracing
        assert.deepInclude(json, {
          url: "http://collector:4318/custom",
          protocol: "http/json",
          serviceName: "edge"
        })
        assert.isUndefined(
          (yield* parse({
            OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
            OTEL_TRACES_EXPORTER: "none"
          })).tracing
        )
      })
  )
})

describe(".env", () => {
  it.live("a .env file in the working directory is read; the environment wins over it", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "messaging-api-env-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      writeFileSync(
        join(dir, ".env"),
        "MESSAGING_API_ADMIN_TOKEN=short\nDATABASE_URL=postgres://postgres@127.0.0.1:1/from-dot-env\n"
      )
      const clean = { PATH: process.env.PATH ?? "" }
      const fromFile = yield* runCli(["migrate"], clean, { cwd: dir, inheritEnv: false })
      assert.strictEqual(fromFile.code, 1)
      assert.match(fromFile.stderr, /MESSAGING_API_ADMIN_TOKEN: must be at least 16 characters/)
      const overridden = yield* runCli(
        ["migrate"],
        { ...clean, MESSAGING_API_ADMIN_TOKEN: "a-token-long-enough-to-seed" },
        { cwd: dir, inheritEnv: false }
      )
      assert.strictEqual(overridden.code, 1)
      assert.match(overridden.stderr, /cannot connect to the database/, "DATABASE_URL still comes from .env")
    })
  )
})
