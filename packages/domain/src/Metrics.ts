import { type Context, Effect, Metric } from "effect"

/**
 * The service's metrics, in one place so that their names are a list an operator can read.
 * They live in Effect's default metric registry; `GET /metrics` renders them (and any other
 * metric in it, prefixed) in the Prometheus text format. Counters and histograms are updated where things
 * happen (cheap: an in-memory add); gauges that need the database are sampled when scraped
 * (`OperationalGauges`), and so are the process's own (`ProcessMetrics` in the http package),
 * never per request.
 */

/** Every metric name starts with this; `prefixed` adds it to any other metric in the registry. */
export const prefix = "messaging_api_"

export const prefixed = (name: string): string => (name.startsWith(prefix) ? name : `${prefix}${name}`)

/** Seconds, for latencies from a millisecond to a minute. */
const secondsBoundaries = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/**
 * One metric per distinct set of attribute values, made once: `Metric.withAttributes` on every
 * update would allocate a new metric (and registry key) per call.
 */
const perAttributes = <Input, State>(
  metric: Metric.Metric<Input, State>,
  names: ReadonlyArray<string>
): ((...values: ReadonlyArray<string>) => Metric.Metric<Input, State>) => {
  const made = new Map<string, Metric.Metric<Input, State>>()
  return (...values) => {
    const key = values.join("\u0000")
    let found = made.get(key)
    if (found === undefined) {
      const attributes: Record<string, string> = {}
      names.forEach((name, i) => {
        attributes[name] = values[i] ?? ""
      })
      found = Metric.withAttributes(metric, attributes)
      made.set(key, found)
    }
    return found
  }
}

/**
 * Several updates in one step, in the registry of the calling fiber's context: for the metrics
 * updated once or more per message (`Metric.update` is two steps for each).
 */
const updated = (update: (context: Context.Context<never>) => void): Effect.Effect<void> =>
  Effect.contextWith((context: Context.Context<never>) => Effect.sync(() => update(context)))

// HTTP

const httpRequests = Metric.counter("messaging_api_http_requests_total", {
  description: "HTTP requests answered, by route (the path pattern) and status code",
  incremental: true
})
const httpRequestsOf = perAttributes(httpRequests, ["route", "status"])

const httpRequestDuration = Metric.histogram("messaging_api_http_request_duration_seconds", {
  description: "Time to answer an HTTP request (to the response head; streams end later), by route",
  boundaries: secondsBoundaries
})
const httpRequestDurationOf = perAttributes(httpRequestDuration, ["route"])

/** One answered request, counted in the given context's registry (the access log's step). */
export const httpRequestUnsafe = (
  route: string,
  status: number,
  seconds: number,
  context: Context.Context<never>
): void => {
  httpRequestsOf(route, String(status)).updateUnsafe(1, context)
  httpRequestDurationOf(route).updateUnsafe(seconds, context)
}

const rateLimited = Metric.counter("messaging_api_rate_limit_refusals_total", {
  description:
    "Requests refused with 429 by a rate limit (token: RATE_LIMIT_PER_TOKEN, address: AUTH_FAILURES_PER_IP)",
  incremental: true
})
const rateLimitedOf = perAttributes(rateLimited, ["limit"])

export const rateLimitRefusal = (limit: "token" | "address") => Metric.update(rateLimitedOf(limit), 1)

// Event store

const appendBatchSize = Metric.histogram("messaging_api_event_store_commit_appends", {
  description: "Appends carried by one group commit (one statement)",
  boundaries: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
})
const appendCommitDuration = Metric.histogram("messaging_api_event_store_commit_duration_seconds", {
  description: "Time one group commit of appends takes",
  boundaries: secondsBoundaries
})
const appendsCommitted = Metric.counter("messaging_api_event_store_appends_total", {
  description: "Appends to the event log, by result (committed, refused: a version conflict or duplicate)",
  incremental: true
})
const appendsCommittedOf = perAttributes(appendsCommitted, ["result"])
const eventsAppended = Metric.counter("messaging_api_event_store_events_appended_total", {
  description: "Events written to the log",
  incremental: true
})

/** One group commit: how many appends it carried, how long it took, how many succeeded and their events. */
export const groupCommit = (appends: number, seconds: number, committed: number, events: number) =>
  updated((context) => {
    appendBatchSize.updateUnsafe(appends, context)
    appendCommitDuration.updateUnsafe(seconds, context)
    appendsCommittedOf("committed").updateUnsafe(committed, context)
    appendsCommittedOf("refused").updateUnsafe(appends - committed, context)
    eventsAppended.updateUnsafe(events, context)
  })

// Deliveries and bot turns

const deliveries = Metric.counter("messaging_api_deliveries_total", {
  description:
    "Delivery attempts by outcome: delivered, retry (failed, tried again later), dead_letter (given up)",
  incremental: true
})
const deliveriesOf = perAttributes(deliveries, ["outcome"])

const deliveryDuration = Metric.histogram("messaging_api_delivery_duration_seconds", {
  description: "Time one delivery attempt (the signed POST to the response endpoint) takes",
  boundaries: secondsBoundaries
})

export type DeliveryOutcome = "delivered" | "retry" | "dead_letter"

/** One delivery attempt and what became of it. */
export const deliveryAttempt = (outcome: DeliveryOutcome, seconds: number) =>
  updated((context) => {
    deliveriesOf(outcome).updateUnsafe(1, context)
    deliveryDuration.updateUnsafe(seconds, context)
  })

const botTurns = Metric.counter("messaging_api_bot_turns_total", {
  description: "Bot turns by outcome: completed, failed (retried later or given up)",
  incremental: true
})
const botTurnsOf = perAttributes(botTurns, ["outcome"])
const botTurnDuration = Metric.histogram("messaging_api_bot_turn_duration_seconds", {
  description: "Time a bot takes to answer one user message",
  boundaries: secondsBoundaries
})

export const botTurn = (outcome: "completed" | "failed", seconds: number) =>
  updated((context) => {
    botTurnsOf(outcome).updateUnsafe(1, context)
    botTurnDuration.updateUnsafe(seconds, context)
  })

/** Conversations held in memory by an actor right now. */
export const liveConversations = Metric.gauge("messaging_api_live_conversations", {
  description: "Conversations live in this process (an actor in memory)"
})

// Sampled when scraped (OperationalGauges)

export const pendingDeliveries = Metric.gauge("messaging_api_pending_deliveries", {
  description: "Bot messages not yet delivered nor dead-lettered (read models)"
})

export const deadLetters = Metric.gauge("messaging_api_dead_letters", {
  description: "Bot messages dead-lettered and not redelivered since (read models)"
})

const followerLagEvents = Metric.gauge("messaging_api_log_follower_lag_events", {
  description: "How far a follower of the event log (a projection) is behind its end, in log positions"
})
export const followerLagEventsOf = perAttributes(followerLagEvents, ["follower"])

const followerLagSeconds = Metric.gauge("messaging_api_log_follower_lag_seconds", {
  description:
    "Age of the oldest event a follower of the log (a projection) has not applied yet; 0 when caught up"
})
export const followerLagSecondsOf = perAttributes(followerLagSeconds, ["follower"])

export const databasePoolConnections = Metric.gauge("messaging_api_database_pool_max_connections", {
  description: "Connections the database pool may open (DATABASE_POOL_SIZE; 4 on the embedded database)"
})

export const databaseConnections = Metric.gauge("messaging_api_database_connections", {
  description: "Connections to the database by state (pg_stat_activity, every client of this database)"
})
export const databaseConnectionsOf = perAttributes(databaseConnections, ["state"])

// The process: sampled when scraped, and garbage-collection pauses as V8 reports them (ProcessMetrics)

const processCpuSeconds = Metric.counter("messaging_api_process_cpu_seconds_total", {
  description: "CPU time this process has used, user and system, in seconds",
  incremental: true
})

const eventLoopActiveSeconds = Metric.counter("messaging_api_event_loop_active_seconds_total", {
  description:
    "Time the event loop spent running code rather than waiting for I/O, in seconds: its rate is the loop's utilization, and as it nears 1 requests wait behind each other",
  incremental: true
})

const heapUsedBytes = Metric.gauge("messaging_api_heap_used_bytes", {
  description: "The V8 heap in use, in bytes"
})

const residentMemoryBytes = Metric.gauge("messaging_api_resident_memory_bytes", {
  description: "The process's resident set size, in bytes"
})

const gcPauses = Metric.histogram("messaging_api_gc_pause_seconds", {
  description:
    "Garbage-collection pauses of the main thread, by kind (minor: the young generation, major: the whole heap, incremental, weakcb)",
  boundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
})
const gcPausesOf = perAttributes(gcPauses, ["kind"])

/** What the process used since the last sample (CPU and busy event-loop seconds), and its memory now. */
export const processSample = (sample: {
  readonly cpuSeconds: number
  readonly eventLoopActiveSeconds: number
  readonly heapUsedBytes: number
  readonly residentMemoryBytes: number
}) =>
  updated((context) => {
    processCpuSeconds.updateUnsafe(sample.cpuSeconds, context)
    eventLoopActiveSeconds.updateUnsafe(sample.eventLoopActiveSeconds, context)
    heapUsedBytes.updateUnsafe(sample.heapUsedBytes, context)
    residentMemoryBytes.updateUnsafe(sample.residentMemoryBytes, context)
  })

export type GcKind = "minor" | "major" | "incremental" | "weakcb"

/** One garbage-collection pause, counted in the given context's registry (called by V8's observer). */
export const gcPauseUnsafe = (kind: GcKind, seconds: number, context: Context.Context<never>): void =>
  gcPausesOf(kind).updateUnsafe(seconds, context)
