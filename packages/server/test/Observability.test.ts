import type { IncomingHttpHeaders } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { fileDatabaseUrl } from "./FileDatabase.ts"
import { listenOnLoopback } from "./LoopbackServer.ts"
import { startReceiver } from "./Receiver.ts"
import { converse, eventually, installationWithToken, request } from "./ServerApi.ts"
import { adminToken, type RunningServer, startServer } from "./ServerProcess.ts"

// What an operator watches the service with, through a real `serve` process: `/metrics` in the
// Prometheus format, traces exported over OTLP/HTTP to a collector (here: the test's own, on
// 127.0.0.1) and continued by the bot and the response endpoint (`traceparent`), and JSON logs.

const databaseUrl = await fileDatabaseUrl()

/** An installation with `bot`, delivering to `responseUrl`, a token for it, and one message sent. */
const sendOne = (server: RunningServer, responseUrl: string, bot: unknown = { _tag: "echo" }) =>
  Effect.gen(function* () {
    const target = yield* installationWithToken(server.url, { bot, responseUrl, retrySchedule: "10ms" })
    yield* converse(target, ["hello"])
    return target
  })

/** The value of one sample line (`name{labels} value`), or undefined when the scrape lacks it. */
const sample = (scrape: string, series: string): number | undefined => {
  const line = scrape.split("\n").find((each) => each.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("GET /metrics", () => {
  it.live("needs an admin token and reports requests, deliveries by outcome and the gauges", () =>
    Effect.gen(function* () {
      const ok = yield* startReceiver(() => 200)
      const gone = yield* startReceiver(() => 404)
      const server = yield* startServer({
        MIN_RETRY_DELAY: "1 millis",
        DATABASE_URL: databaseUrl
      })
      const delivered = yield* sendOne(server, ok.url)
      yield* sendOne(server, gone.url)

      // A webhook URL opened in a browser: 405, POST only.
      const browsed = yield* Effect.promise(() => fetch(delivered.webhookUrl))
      assert.strictEqual(browsed.status, 405)
      assert.strictEqual(browsed.headers.get("allow"), "POST")
      const refusal = (yield* Effect.promise(() => browsed.json())) as { error: { code: string } }
      assert.strictEqual(refusal.error.code, "method_not_allowed")

      const anonymous = yield* request("GET", `${server.url}/metrics`, undefined)
      assert.strictEqual(anonymous.status, 401, anonymous.text)
      assert.strictEqual(anonymous.json.error.code, "missing_token")
      const notAdmin = yield* request("GET", `${server.url}/metrics`, delivered.token)
      assert.strictEqual(notAdmin.status, 403, notAdmin.text)

      // Once both replies are settled (one delivered, one dead-lettered) and projected.
      const scrape = yield* eventually(
        request("GET", `${server.url}/metrics`, adminToken).pipe(
          Effect.map((response) => {
            assert.strictEqual(response.status, 200, response.text)
            const text = response.text
            return sample(text, 'messaging_api_deliveries_total{outcome="delivered"}') === 1 &&
              sample(text, 'messaging_api_deliveries_total{outcome="dead_letter"}') === 1 &&
              sample(text, "messaging_api_dead_letters") === 1 &&
              sample(text, "messaging_api_pending_deliveries") === 0
              ? text
              : undefined
          })
        )
      )
      assert.match(scrape, /^# TYPE messaging_api_http_requests_total counter$/m)
      assert.strictEqual(
        sample(scrape, 'messaging_api_http_requests_total{route="/webhooks/:webhookId",status="200"}'),
        2
      )
      assert.strictEqual(
        sample(scrape, 'messaging_api_http_requests_total{route="/metrics",status="401"}'),
        1
      )
      assert.strictEqual(
        sample(scrape, 'messaging_api_http_requests_total{route="/metrics",status="403"}'),
        1
      )
      assert.match(scrape, /^# TYPE messaging_api_delivery_duration_seconds histogram$/m)
      assert.strictEqual(sample(scrape, "messaging_api_delivery_duration_seconds_count"), 2)
      assert.strictEqual(sample(scrape, 'messaging_api_delivery_duration_seconds_bucket{le="+Inf"}'), 2)
      assert.strictEqual(sample(scrape, 'messaging_api_bot_turns_total{outcome="completed"}'), 2)
      assert.isAtLeast(sample(scrape, "messaging_api_live_conversations") ?? -1, 0)
      assert.isAtLeast(sample(scrape, "messaging_api_event_store_commit_appends_count") ?? 0, 1)
      assert.isAtLeast(sample(scrape, 'messaging_api_event_store_appends_total{result="committed"}') ?? 0, 6)
      assert.isDefined(sample(scrape, 'messaging_api_log_follower_lag_events{follower="read_models"}'))
      // The ids in the URL never become labels.
      assert.notInclude(scrape, delivered.webhookUrl.split("/").pop()!)
      for (const line of scrape.split("\n").filter((each) => each !== "" && !each.startsWith("#"))) {
        assert.match(line, /^messaging_api_[a-z_]+(\{[^}]*\})? [-+\d.eInfa]+$/, line)
      }
    })
  )
})

describe("GET /metrics, the process's own", () => {
  it.live("reports its CPU, its event loop's busy time, its memory and its garbage-collection pauses", () =>
    Effect.gen(function* () {
      const receiver = yield* startReceiver(() => 200)
      const server = yield* startServer({ DATABASE_URL: databaseUrl, METRICS_PUBLIC: "true" })
      const scrape = request("GET", `${server.url}/metrics`, undefined).pipe(
        Effect.map((response) => {
          assert.strictEqual(response.status, 200, response.text)
          return response.text
        })
      )
      /** The sum of a histogram's counts over its label sets (`name_count{…} n` lines). */
      const countOf = (text: string, histogram: string) =>
        text
          .split("\n")
          .filter((line) => line.startsWith(`${histogram}_count{`))
          .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0)

      const first = yield* scrape
      const cpu = sample(first, "messaging_api_process_cpu_seconds_total") ?? 0
      const busy = sample(first, "messaging_api_event_loop_active_seconds_total") ?? 0
      const heap = sample(first, "messaging_api_heap_used_bytes") ?? 0
      const resident = sample(first, "messaging_api_resident_memory_bytes") ?? 0
      // Starting the service (modules, migrations, the layers) takes more than a tenth of a second
      // of CPU.
      assert.isAbove(cpu, 0.1)
      assert.isAbove(busy, 0)
      assert.isAbove(heap, 1_000_000)
      assert.isAtLeast(resident, heap)
      assert.match(first, /^# TYPE messaging_api_process_cpu_seconds_total counter$/m)
      assert.match(first, /^# TYPE messaging_api_heap_used_bytes gauge$/m)

      // Messages until V8 has collected garbage at least once since the observer started.
      const target = yield* installationWithToken(server.url, {
        bot: { _tag: "echo" },
        responseUrl: receiver.url
      })
      const later = yield* eventually(
        Effect.gen(function* () {
          yield* converse(
            target,
            Array.from({ length: 20 }, (_, i) => `message ${i}: ${"x".repeat(2_000)}`)
          )
          const text = yield* scrape
          return countOf(text, "messaging_api_gc_pause_seconds") >= 1 ? text : undefined
        })
      )
      assert.match(later, /^# TYPE messaging_api_gc_pause_seconds histogram$/m)
      assert.match(
        later,
        /^messaging_api_gc_pause_seconds_count\{kind="(minor|major|incremental|weakcb)"\} \d+$/m
      )
      // The counters went on from where they were: what the messages cost was added.
      assert.isAbove(sample(later, "messaging_api_process_cpu_seconds_total") ?? 0, cpu)
      assert.isAbove(sample(later, "messaging_api_event_loop_active_seconds_total") ?? 0, busy)
    })
  )
})

/** One span as the OTLP/JSON export carries it. */
interface ExportedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string | undefined
  readonly name: string
}

/** A collector of our own: accepts OTLP/HTTP JSON trace exports on 127.0.0.1 and keeps the spans. */
const startCollector = Effect.gen(function* () {
  const spans: Array<ExportedSpan> = []
  const contentTypes: Array<string> = []
  const url = yield* listenOnLoopback((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      contentTypes.push(String(request.headers["content-type"]))
      if (request.url !== "/v1/traces" || !String(request.headers["content-type"]).includes("json")) {
        response.statusCode = 415
        response.end()
        return
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"))
      for (const resource of body.resourceSpans ?? []) {
        for (const scope of resource.scopeSpans ?? []) spans.push(...(scope.spans ?? []))
      }
      response.setHeader("content-type", "application/json")
      response.end("{}")
    })
  })
  return { url, spans, contentTypes }
})

/** An http bot on 127.0.0.1 that answers every turn with one text message and keeps the headers it got. */
const startBot = Effect.gen(function* () {
  const calls: Array<IncomingHttpHeaders> = []
  const url = yield* listenOnLoopback((request, response) => {
    request.resume()
    request.on("end", () => {
      calls.push(request.headers)
      response.setHeader("content-type", "application/json")
      response.end(JSON.stringify([{ type: "text", payload: { text: "traced" } }]))
    })
  })
  return { url: `${url}/bot`, calls }
})

const parseTraceparent = (header: unknown) => {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(String(header))
  assert.isNotNull(match, `a W3C traceparent, got ${String(header)}`)
  return { traceId: match![1]!, spanId: match![2]! }
}

/**
 * One message answered by an http bot and delivered, through a server started with `env`: the
 * `traceparent` of the bot's call and of the delivery, which must share their trace.
 */
const tracedThroughBot = (env: Record<string, string>) =>
  Effect.gen(function* () {
    const bot = yield* startBot
    const receiver = yield* startReceiver(() => 200)
    const server = yield* startServer({ MIN_RETRY_DELAY: "1 millis", DATABASE_URL: databaseUrl, ...env })
    yield* sendOne(server, receiver.url, { _tag: "http", url: bot.url })
    const delivery = yield* eventually(
      Effect.sync(() => receiver.arrivals.find((each) => each.answer === 200))
    )
    assert.strictEqual(bot.calls.length, 1)
    const fromBot = parseTraceparent(bot.calls[0]!.traceparent)
    const fromDelivery = parseTraceparent(delivery.headers.traceparent)
    assert.strictEqual(fromBot.traceId, fromDelivery.traceId, "the bot call and the delivery share the trace")
    return { fromBot, fromDelivery, header: String(delivery.headers.traceparent) }
  })

describe("traces over OTLP/HTTP", () => {
  it.live("one trace links the webhook request, the append, the bot turn and the delivery attempt", () =>
    Effect.gen(function* () {
      const collector = yield* startCollector
      const { fromBot, fromDelivery } = yield* tracedThroughBot({
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "messaging-api-test",
        OTEL_BSP_SCHEDULE_DELAY: "50"
      })

      const byId = new Map<string, ExportedSpan>()
      const ancestors = (span: ExportedSpan): Array<ExportedSpan> => {
        const chain: Array<ExportedSpan> = []
        for (let at = span.parentSpanId; at !== undefined && at !== ""; at = byId.get(at)?.parentSpanId) {
          const parent = byId.get(at)
          if (parent === undefined) break
          chain.push(parent)
        }
        return chain
      }
      // Spans end (and are exported) in batches: wait until the delivery's POST span and its parents are in.
      const root = yield* eventually(
        Effect.sync(() => {
          for (const span of collector.spans) byId.set(span.spanId, span)
          const post = byId.get(fromDelivery.spanId)
          if (post === undefined) return undefined
          const chain = ancestors(post)
          const top = chain[chain.length - 1]
          return top !== undefined && (top.parentSpanId ?? "") === "" && top.name === "POST" ? top : undefined
        })
      )
      assert.deepStrictEqual([...new Set(collector.contentTypes)], ["application/json"])
      assert.strictEqual(root.traceId, fromDelivery.traceId)

      const inTrace = collector.spans.filter((span) => span.traceId === root.traceId)
      const names = (spans: ReadonlyArray<ExportedSpan>) => spans.map((span) => span.name)
      const deliveryChain = names(ancestors(byId.get(fromDelivery.spanId)!))
      assert.strictEqual(byId.get(fromDelivery.spanId)!.name, "WebhookClient.post")
      assert.includeMembers(deliveryChain, [
        "Deliverer.attempt",
        "ConversationActor.deliver",
        "ConversationActor.runTurn",
        "Webhooks.receive",
        "POST"
      ])
      const botPost = byId.get(fromBot.spanId)
      assert.isDefined(botPost, "the bot call's span is exported")
      assert.includeMembers(names(ancestors(botPost!)), [
        "HttpBot.respond",
        "ConversationActor.runTurn",
        "POST"
      ])
      // The append of the user message is in the same trace, under the webhook request.
      const appends = inTrace.filter((span) => span.name === "EventStore.append")
      assert.isAtLeast(appends.length, 1)
      assert.isTrue(
        appends.some((span) => names(ancestors(span)).includes("Webhooks.receive")),
        "the user message's append descends from the request"
      )
    })
  )

  it.live(
    "without an endpoint the bot's call and the delivery still carry one traceparent, of a trace not sampled",
    () =>
      Effect.gen(function* () {
        const { header } = yield* tracedThroughBot({})
        assert.match(header, /-00$/, "nothing is recorded, so nothing is sampled")
      })
  )
})

describe("LOG_FORMAT=json", () => {
  it.live("prints nothing but JSON lines, with one access line per request and no token", () =>
    Effect.gen(function* () {
      const receiver = yield* startReceiver(() => 200)
      const server = yield* startServer({
        MIN_RETRY_DELAY: "1 millis",
        DATABASE_URL: databaseUrl,
        LOG_FORMAT: "json",
        LOG_LEVEL: "INFO",
        METRICS_PUBLIC: "true"
      })
      const sent = yield* sendOne(server, receiver.url)
      yield* eventually(Effect.sync(() => (receiver.arrivals.length > 0 ? true : undefined)))
      const refused = yield* request("POST", sent.webhookUrl, "mapi_0123456789abcdef_not-a-real-token", {})
      assert.strictEqual(refused.status, 401)
      const metrics = yield* request("GET", `${server.url}/metrics`, undefined)
      assert.strictEqual(metrics.status, 200, "METRICS_PUBLIC=true: no token needed")
      server.child.kill("SIGTERM")
      assert.strictEqual(yield* server.exited, 0)

      const lines = server
        .output()
        .split("\n")
        .filter((line) => line.trim() !== "")
      assert.isAtLeast(lines.length, 4)
      const entries = lines.map((line) => {
        try {
          return JSON.parse(line) as { message: unknown; level: string; annotations: Record<string, unknown> }
        } catch {
          return assert.fail(`not a JSON line: ${line}`)
        }
      })
      const access = entries.filter((entry) => entry.annotations?.kind === "access")
      assert.isTrue(
        access.some(
          ({ annotations }) =>
            annotations.method === "POST" &&
            annotations.route === "/webhooks/:webhookId" &&
            annotations.status === 401
        ),
        "the refused webhook request has its access line"
      )
      for (const entry of access) {
        assert.hasAllKeys(entry.annotations, ["kind", "method", "route", "status", "durationMs"])
      }
      assert.notInclude(server.output(), sent.token)
      assert.notInclude(server.output(), "not-a-real-token")
      assert.notInclude(server.output(), adminToken)
      assert.notInclude(server.output(), '"text":"hello"', "no bodies")
    })
  )
})
