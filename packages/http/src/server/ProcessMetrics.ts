import {
  constants,
  type NodeGCPerformanceDetail,
  type PerformanceEntry,
  PerformanceObserver,
  performance
} from "node:perf_hooks"
import { Metrics } from "@messaging-api/domain"
import { Context, Effect, Layer } from "effect"

/**
 * The process's own figures for `/metrics`: the CPU time it used and the time its event loop was
 * busy (counters whose rates are its CPU use and its loop's utilization, the saturation an
 * operator scales on: one thread serves every request), its heap and resident memory, sampled when
 * scraped; and every garbage-collection pause as V8 reports it (an observer of `gc` entries, called
 * once per collection, nothing per request). Nothing here starts a timer, so an idle process
 * stays asleep.
 */
export class ProcessMetrics extends Context.Service<
  ProcessMetrics,
  {
    /** Records what the process used since the last sample, and its memory now. */
    readonly sample: Effect.Effect<void>
  }
>()("@messaging-api/http/ProcessMetrics") {
  static readonly layer = Layer.effect(
    ProcessMetrics,
    Effect.gen(function* () {
      const context = yield* Effect.context<never>()
      const observer = new PerformanceObserver((entries) => {
        for (const entry of entries.getEntries()) {
          const kind = gcKinds.get((entry as GcEntry).detail?.kind ?? -1)
          if (kind !== undefined) Metrics.gcPauseUnsafe(kind, entry.duration / 1000, context)
        }
      })
      yield* Effect.acquireRelease(
        Effect.sync(() => observer.observe({ entryTypes: ["gc"] })),
        () => Effect.sync(() => observer.disconnect())
      )

      // Both are cumulative since the process started; each sample records the difference since
      // the last one (the first: since the start).
      let cpuMicros = 0
      let activeMillis = 0
      const sample = Effect.suspend(() => {
        const cpu = process.cpuUsage()
        const loop = performance.eventLoopUtilization()
        const memory = process.memoryUsage()
        const cpuNow = cpu.user + cpu.system
        const cpuSeconds = (cpuNow - cpuMicros) / 1e6
        const eventLoopActiveSeconds = (loop.active - activeMillis) / 1000
        cpuMicros = cpuNow
        activeMillis = loop.active
        return Metrics.processSample({
          cpuSeconds,
          eventLoopActiveSeconds,
          heapUsedBytes: memory.heapUsed,
          residentMemoryBytes: memory.rss
        })
      })
      return ProcessMetrics.of({ sample })
    })
  )
}

/** A `gc` entry: its detail says which collection it was (the types leave `detail` to the subclasses). */
type GcEntry = PerformanceEntry & { readonly detail?: NodeGCPerformanceDetail }

const gcKinds = new Map<number, Metrics.GcKind>([
  [constants.NODE_PERFORMANCE_GC_MINOR, "minor"],
  [constants.NODE_PERFORMANCE_GC_MAJOR, "major"],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, "incremental"],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, "weakcb"]
])
