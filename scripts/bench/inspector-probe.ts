/**
 * Looks inside a service process started with `--inspect` (service-process.ts `inspect: true`)
 * through the DevTools protocol, without changing the service:
 * - `memoryAfterGc`: forces a full garbage collection and reads `process.memoryUsage()`; heap used
 *   after it is what the process still holds, RSS above that is memory V8 has not returned to
 *   the system.
 * - `heapSnapshotAfterGc`: the same forced GC, then a heap snapshot written to a file (for
 *   heap-breakdown.ts), streamed in chunks so the service's heap is not copied into the bench's.
 * - `startPauseMonitor` / `readPauseMonitor`: event-loop delay and GC pauses over a stretch of
 *   load (perf_hooks), to tell a latency tail caused by the process stalling from one caused by
 *   queueing.
 * - `readEffectSteps`: the effect runtime's steps and fibers so far, in a process started with
 *   `--import effect-steps.ts`.
 */

export interface MemoryUsage {
  readonly rss: number
  readonly heapTotal: number
  readonly heapUsed: number
  readonly external: number
  readonly arrayBuffers: number
}

export const session = async <A>(
  inspectPort: number,
  use: (call: (method: string, params?: Record<string, unknown>) => Promise<unknown>) => Promise<A>,
  onEvent?: (method: string, params: Record<string, unknown>) => void
): Promise<A> => {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as Array<{
    webSocketDebuggerUrl: string
  }>
  const url = targets[0]?.webSocketDebuggerUrl
  if (url === undefined) throw new Error("no inspector target")
  const socket = new WebSocket(url)
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true })
    socket.addEventListener("error", () => reject(new Error("inspector connection failed")), { once: true })
  })
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as {
      id?: number
      method?: string
      params?: Record<string, unknown>
      result?: unknown
      error?: unknown
    }
    if (message.id === undefined) {
      if (message.method !== undefined) onEvent?.(message.method, message.params ?? {})
      return
    }
    const waiter = waiting.get(message.id)
    waiting.delete(message.id)
    if (message.error !== undefined) waiter?.reject(new Error(JSON.stringify(message.error)))
    else waiter?.resolve(message.result)
  })
  let nextId = 1
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++
      waiting.set(id, { resolve, reject })
      socket.send(JSON.stringify({ id, method, params }))
    })
  try {
    return await use(call)
  } finally {
    socket.close()
  }
}

const evaluate = async <A>(inspectPort: number, expression: string): Promise<A> =>
  session(inspectPort, async (call) => {
    const result = (await call("Runtime.evaluate", { expression, returnByValue: true })) as {
      result: { value: string }
    }
    return JSON.parse(result.result.value) as A
  })

export const memoryAfterGc = (inspectPort: number): Promise<MemoryUsage> =>
  session(inspectPort, async (call) => {
    await call("HeapProfiler.collectGarbage")
    await call("HeapProfiler.collectGarbage")
    const result = (await call("Runtime.evaluate", {
      expression: "JSON.stringify(process.memoryUsage())",
      returnByValue: true
    })) as { result: { value: string } }
    return JSON.parse(result.result.value) as MemoryUsage
  })

/** Forces a full GC, then writes a heap snapshot of the service to `path` (a .heapsnapshot file). */
export const heapSnapshotAfterGc = async (inspectPort: number, path: string): Promise<void> => {
  const { createWriteStream } = await import("node:fs")
  const out = createWriteStream(path)
  await session(
    inspectPort,
    async (call) => {
      await call("HeapProfiler.enable")
      await call("HeapProfiler.collectGarbage")
      await call("HeapProfiler.collectGarbage")
      await call("HeapProfiler.takeHeapSnapshot", { reportProgress: false })
    },
    (method, params) => {
      if (method === "HeapProfiler.addHeapSnapshotChunk") out.write(String(params.chunk))
    }
  )
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve()))
  )
}

export interface PauseStats {
  /** Event-loop delay (ms): how late a 10 ms timer ran, beyond its 10 ms. */
  readonly loopDelayP50: number
  readonly loopDelayP99: number
  readonly loopDelayMax: number
  readonly gcCount: number
  /** Total and longest GC pause (ms). */
  readonly gcPauseTotal: number
  readonly gcPauseMax: number
  /** Share of the monitored time spent in GC pauses. */
  readonly gcShare: number
}

/** Starts (or restarts) the monitors in the service process. */
export const startPauseMonitor = (inspectPort: number): Promise<boolean> =>
  evaluate<boolean>(
    inspectPort,
    `(() => {
      const { monitorEventLoopDelay, PerformanceObserver, performance } = process.getBuiltinModule("node:perf_hooks")
      const state = globalThis.__benchPauses ?? (globalThis.__benchPauses = {})
      state.loop?.disable()
      state.gc?.disconnect()
      state.loop = monitorEventLoopDelay({ resolution: 10 })
      state.loop.enable()
      state.gcCount = 0
      state.gcTotal = 0
      state.gcMax = 0
      state.since = performance.now()
      state.gc = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          state.gcCount++
          state.gcTotal += entry.duration
          state.gcMax = Math.max(state.gcMax, entry.duration)
        }
      })
      state.gc.observe({ entryTypes: ["gc"] })
      return JSON.stringify(true)
    })()`
  )

export const readPauseMonitor = (inspectPort: number): Promise<PauseStats> =>
  evaluate<PauseStats>(
    inspectPort,
    `(() => {
      const { performance } = process.getBuiltinModule("node:perf_hooks")
      const state = globalThis.__benchPauses
      const ms = (ns) => Math.round(Math.max(0, ns / 1e6 - 10) * 10) / 10
      const elapsed = performance.now() - state.since
      return JSON.stringify({
        loopDelayP50: ms(state.loop.percentile(50)),
        loopDelayP99: ms(state.loop.percentile(99)),
        loopDelayMax: ms(state.loop.max),
        gcCount: state.gcCount,
        gcPauseTotal: Math.round(state.gcTotal),
        gcPauseMax: Math.round(state.gcMax * 10) / 10,
        gcShare: Math.round((state.gcTotal / elapsed) * 1000) / 1000
      })
    })()`
  )

/** The effect runtime's counts in the process so far (`effect-steps.ts`). */
export const readEffectSteps = (inspectPort: number) =>
  session(inspectPort, async (call) => {
    const answer = (await call("Runtime.evaluate", {
      expression: "JSON.stringify(globalThis.effectSteps())",
      returnByValue: true
    })) as { readonly result: { readonly value: string } }
    return JSON.parse(answer.result.value) as { readonly steps: number; readonly fibers: number }
  })
