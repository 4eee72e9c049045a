import { randomBytes } from "node:crypto"
import { Context, Effect, Option, References, Tracer } from "effect"

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
 * The `traceparent` of the bot's and the response endpoint's POSTs goes out either way: while
 * nothing is recorded, each inbound message starts a trace of its own that only those headers name
 * (`traceOrigin`), and the message's bot turn and deliveries continue it (`continuingTrace`), so a
 * bot or an application that traces still sees one trace per message. That is one context change
 * for each of them instead of some twenty spans.
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

/**
 * The span that the work a command causes (its bot turn, its deliveries) continues: the current one;
 * while traces are not recorded and there is none, a trace of its own, not sampled, that only the
 * `traceparent` of that work's POSTs names.
 */
export const traceOrigin: Effect.Effect<Option.Option<Tracer.AnySpan>> = Effect.withFiber((fiber) => {
  const current = Context.getOption(fiber.context, Tracer.ParentSpan)
  // Not recording, a span of this process is a placeholder (effect's own, or an `Effect.fn`'s).
  if (
    fiber.getRef(References.TracerEnabled) ||
    (Option.isSome(current) && current.value._tag === "ExternalSpan")
  )
    return Effect.succeed(current)
  return Effect.succeed(Option.some(untracedOrigin()))
})

/**
 * Ids for traces nobody records: unique in this process by a counter, across processes by a random
 * half (the W3C trace id's; generating random bytes per message cost about 1.5 % of the CPU).
 */
let processPart: string | undefined
let untraced = 0
const untracedOrigin = (): Tracer.ExternalSpan => {
  // On first use, not on import: the console's browser bundle loads this module too.
  processPart ??= randomBytes(8).toString("hex")
  const id = (++untraced).toString(16).padStart(16, "0")
  return Tracer.externalSpan({ traceId: `${processPart}${id}`, spanId: id, sampled: false })
}

/**
 * Runs `self` as a child of `parent` (work continuing the trace of what caused it): while traces
 * are recorded, or when `parent` is a trace's origin from outside this process (a caller's, or
 * `traceOrigin`'s own), which adds no span.
 */
export const continuingTrace = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  parent: Tracer.AnySpan
): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) =>
    parent._tag === "ExternalSpan" || fiber.getRef(References.TracerEnabled)
      ? Effect.withParentSpan(self, parent, noStackTrace)
      : self
  )
