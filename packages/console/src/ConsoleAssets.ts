import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { Context, Effect, Layer, Schema } from "effect"

/**
 * The console's files: the page, its stylesheet and its script. The script is bundled from
 * `web/` by esbuild (a dependency of this package) in memory, once, when the console is first asked for: nothing
 * generated is committed or written, and a clean install serves the console with no extra step.
 */

/** One file of the console, ready to serve. */
export interface Asset {
  readonly contentType: string
  readonly body: Uint8Array
}

export interface Assets {
  readonly page: Asset
  readonly script: Asset
  readonly stylesheet: Asset
}

/** The console could not be built or read; the API is unaffected. */
export class ConsoleUnavailable extends Schema.TaggedError<ConsoleUnavailable>()("ConsoleUnavailable", {
  message: Schema.String
}) {}

const webDirectory = fileURLToPath(new URL("../web/", import.meta.url))

/**
 * Node's built-in modules and the Postgres driver have no place in a browser. Server-side modules
 * that the typed client's schemas pull in with them (the deliveries read model beside its record
 * schema) import these without using them on the console's path, so each becomes an empty module
 * rather than failing the build.
 */
const serverOnlyAsEmpty = {
  name: "server-only-as-empty",
  setup(build: import("esbuild").PluginBuild) {
    build.onResolve({ filter: /^node:|^@effect\/sql-pg(\/|$)/ }, (args) => ({
      path: args.path,
      namespace: "server-only"
    }))
    build.onResolve(
      { filter: /^(crypto|net|tls|os|fs|path|stream|dns|events|util|url|buffer|string_decoder|perf_hooks)$/ },
      (args) => ({ path: args.path, namespace: "server-only" })
    )
    build.onLoad({ filter: /.*/, namespace: "server-only" }, () => ({
      contents: "module.exports = {}",
      loader: "js" as const
    }))
  }
}

/**
 * The packages' index modules re-export server-side modules too (the event store, the Postgres
 * driver). Only what the console uses is kept: these modules are declared free of side effects
 * when imported, so the unused ones are left out of the bundle instead of running in the browser.
 */
const serverModules = /[\\/]packages[\\/](domain|delivery|http)[\\/]src[\\/]/
const unusedServerModulesLeftOut = {
  name: "unused-server-modules-left-out",
  setup(build: import("esbuild").PluginBuild) {
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === "resolving" || args.namespace !== "file") return undefined
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: "resolving"
      })
      if (resolved.errors.length > 0 || !serverModules.test(resolved.path)) return undefined
      return { path: resolved.path, sideEffects: false }
    })
  }
}

const bundleScript = Effect.tryPromise({
  try: async () => {
    const esbuild = await import("esbuild")
    try {
      const result = await esbuild.build({
        entryPoints: [`${webDirectory}main.tsx`],
        bundle: true,
        format: "esm",
        platform: "browser",
        target: "es2022",
        jsx: "automatic",
        jsxImportSource: "preact",
        minify: true,
        legalComments: "none",
        write: false,
        logLevel: "silent",
        define: { "process.env.NODE_ENV": '"production"' },
        plugins: [serverOnlyAsEmpty, unusedServerModulesLeftOut]
      })
      const output = result.outputFiles[0]
      if (output === undefined) throw new Error("esbuild produced no output")
      return output.contents
    } finally {
      await esbuild.stop()
    }
  },
  catch: (cause) =>
    new ConsoleUnavailable({
      message: `the console's script could not be built: ${cause instanceof Error ? cause.message : String(cause)}`
    })
})

const readWebFile = (name: string) =>
  Effect.tryPromise({
    try: () => readFile(`${webDirectory}${name}`),
    catch: (cause) =>
      new ConsoleUnavailable({
        message: `web/${name} could not be read: ${cause instanceof Error ? cause.message : String(cause)}`
      })
  }).pipe(Effect.map((buffer) => new Uint8Array(buffer)))

const build = Effect.gen(function* () {
  const [page, stylesheet, script] = yield* Effect.all(
    [readWebFile("index.html"), readWebFile("console.css"), bundleScript],
    { concurrency: "unbounded" }
  )
  return {
    page: { contentType: "text/html; charset=utf-8", body: page },
    stylesheet: { contentType: "text/css; charset=utf-8", body: stylesheet },
    script: { contentType: "text/javascript; charset=utf-8", body: script }
  } satisfies Assets
}).pipe(Effect.withSpan("ConsoleAssets.build"))

export class ConsoleAssets extends Context.Service<
  ConsoleAssets,
  {
    /** The built files: the first call builds them (about a second), the others get the same. */
    readonly assets: Effect.Effect<Assets, ConsoleUnavailable>
  }
>()("@messaging-api/console/ConsoleAssets") {
  /**
   * Builds on the first request for the console, not at start: a process that nobody opens the
   * console on (a test's, a runner behind a load balancer) spends nothing on it.
   */
  static readonly layer = Layer.effect(
    ConsoleAssets,
    Effect.gen(function* () {
      const assets = yield* Effect.cached(
        build.pipe(Effect.tapError((error) => Effect.logWarning(error.message)))
      )
      return ConsoleAssets.of({ assets })
    })
  )
}
