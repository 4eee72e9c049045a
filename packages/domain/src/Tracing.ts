import { Effect, References, type Tracer } from "effect"

/**
 * Spans on the per-message path, which exist only while the process records traces.
 *
 * A span is more than its record: entering one puts it (and a stack frame) into the fiber's
 * context, which rebuilds the fiber's context cache, and leaving it puts the old context back. A
 * message passes through about twenty of them, and with no exporter nobody sees any. Turning
 * `References.TracerEnabled` off makes effect's own spans cheap records that change no context,
 * but a span made by `Effect.withSpan` still changes it. So these helpers read
 * `References.TracerEnabled` as the effect starts and, when it is off, run the effect as it is: no
 * span, no context change. The server turns it off when no OTLP endpoint is configured
 * (`Observability.ts`). Measured under the inbound load, alternately: without any span the service
 * took about a quarter less CPU per message; turning `TracerEnabled` off alone changed nothing
 * (docs/PERFORMANCE.md, item 18).
 *
 * `hotSpan` also leaves out what `Effect.fn` adds per call for debugging: two captured stack traces
 * (an `Error` each) and a stack frame in the context (about 3 % of the service's CPU when measured).
 */

const noStackTrace = { captureStackTrace: false } as const

/**
 * The span of a function on the per-message path: `Effect.fnUntraced(body, hotSpan(name))` traces
 * like `Effect.fn(name)(body)`, one span per call parented as usual, while traces are recorded.
 */
export const hotSpan = (name: string, options?: Tracer.SpanOptionsNoTrace) => {
  const spanOptions = options === undefined ? noStackTrace : { ...options, ...noStackTrace }
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withFiber((fiber) =>
      fiber.getRef(References.TracerEnabled) ? Effect.withSpan(self, name, spanOptions) : self
    )
}

/** Runs `self` as a child of `parent` (work continuing the trace of what caused it), while traces are recorded. */
export const continuingTrace = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  parent: Tracer.AnySpan
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) =>
    fiber.getRef(References.TracerEnabled) ? Effect.withParentSpan(self, parent, noStackTrace) : self
  )
