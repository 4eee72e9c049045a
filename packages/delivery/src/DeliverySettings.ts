import type { RetrySchedule } from "@messaging-api/domain/RetrySchedule"
import { Context, Duration } from "effect"

/**
 * How the outbound half behaves. The server reads its configuration and provides these; every
 * value has a default, so an embedder (or a test) sets only what it changes.
 */
export interface DeliverySettingsShape {
  /** Longest wait for one delivery (or http-bot) request, response body included. */
  readonly requestTimeout: Duration.Duration
  /** Response bodies are read up to this size; the rest is dropped with the connection. */
  readonly maxResponseBytes: number
  /** An actor with nothing due for this long leaves memory; the schedule wakes it when work is due. */
  readonly passivateAfter: Duration.Duration
  /** On shutdown, in-flight attempts get this long to finish before they are abandoned. */
  readonly drainTimeout: Duration.Duration
  /** Default time limit for one bot turn (an http bot's `timeoutMs` overrides it). */
  readonly botTimeout: Duration.Duration
  /** Waits between tries of a failed bot turn, in milliseconds; then the turn is given up. */
  readonly botTurnRetrySchedule: RetrySchedule
  /** Upper bound for a receiver's Retry-After. */
  readonly maxRetryAfter: Duration.Duration
  /**
   * An installation whose response endpoint has failed for this long without a success (from its
   * first failed attempt after the last success) is paused: its deliveries are held until resumed.
   */
  readonly endpointPauseAfter: Duration.Duration
  /** How often the schedule looks for conversations whose next attempt has come due. */
  readonly pollInterval: Duration.Duration
  /**
   * When set, the schedule (and so the recovery sweep) resumes only conversations of these
   * installations; work is still indexed for all. For workers that share a database with others
   * they must not touch (test files), or that split installations between them.
   */
  readonly onlyInstallations: ReadonlySet<string> | undefined
}

export const defaults: DeliverySettingsShape = {
  requestTimeout: Duration.seconds(10),
  maxResponseBytes: 1024 * 1024,
  passivateAfter: Duration.minutes(1),
  drainTimeout: Duration.seconds(15),
  botTimeout: Duration.seconds(10),
  botTurnRetrySchedule: [1_000, 5_000, 30_000, 120_000, 600_000],
  maxRetryAfter: Duration.hours(1),
  endpointPauseAfter: Duration.days(5),
  pollInterval: Duration.seconds(1),
  onlyInstallations: undefined
}

export const DeliverySettings = Context.Reference<DeliverySettingsShape>(
  "@messaging-api/delivery/DeliverySettings",
  { defaultValue: () => defaults }
)

/** Settings from the defaults with some values replaced. */
export const make = (overrides: Partial<DeliverySettingsShape> = {}): DeliverySettingsShape => ({
  ...defaults,
  ...overrides
})
