import type { Client } from "@messaging-api/http/Client"
import type { Effect } from "effect"
import type { HttpClient } from "effect/http"
import type { ComponentChildren } from "preact"
import { useEffect, useRef, useState } from "preact/hooks"
import { call, type Reply } from "./Api.ts"
import { useSession } from "./Session.ts"

/** An API error, in words, announced to screen readers. */
export const ErrorMessage = ({ message }: { readonly message: string | null }) =>
  message === null ? null : (
    <p class="error" role="alert">
      {message}
    </p>
  )

/** A polite announcement of something that went well. */
export const Notice = ({ children }: { readonly children: ComponentChildren }) => (
  <p class="notice" role="status">
    {children}
  </p>
)

/** An error and the HTTP status it came with, without saying the status twice. */
export const failureText = (error: string | null, status: number | null): string => {
  const statusText = status === null ? null : `HTTP ${status}`
  if (error === null) return statusText ?? "—"
  return statusText === null || error.includes(statusText) ? error : `${error} (${statusText})`
}

export const formatTime = (iso: string | null | undefined): string => {
  if (iso === null || iso === undefined) return "—"
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString()
}

const statusWords: Record<string, string> = {
  pending: "pending",
  delivered: "delivered",
  dead_lettered: "dead letter",
  healthy: "healthy",
  failing: "failing",
  paused: "paused"
}

/** A status as a word (never colour alone). */
export const Status = ({ value }: { readonly value: string }) => (
  <span class={`status status-${value}`}>{statusWords[value] ?? value}</span>
)

/** A page's heading, focused when the page opens so that keyboard and screen-reader users land on it. */
export const PageHeading = ({ children }: { readonly children: ComponentChildren }) => {
  const ref = useRef<HTMLHeadingElement>(null)
  useEffect(() => {
    ref.current?.focus()
  }, [])
  return (
    <h1 tabIndex={-1} ref={ref}>
      {children}
    </h1>
  )
}

/** Calls the API with the session's token; a 401 signs out with the reason. */
export const useCall = () => {
  const session = useSession()
  return async <A, E>(
    f: (client: Client) => Effect.Effect<A, E, HttpClient.HttpClient>
  ): Promise<Reply<A>> => {
    const reply = await call(session.token, f)
    if (!reply.ok && reply.status === 401) session.signOut(reply.message)
    return reply
  }
}

/**
 * Loads with `load(key)` now, again every `everyMs` while the page is open, and afresh whenever
 * `key` changes (a filter, a page cursor).
 */
export const usePolling = <K, A>(
  key: K,
  load: (key: K) => Promise<Reply<A>>,
  everyMs: number
): { readonly data: A | null; readonly error: string | null; readonly reload: () => void } => {
  const [data, setData] = useState<A | null>(null)
  const [error, setError] = useState<string | null>(null)
  const loadRef = useRef(load)
  loadRef.current = load
  const reloadRef = useRef<() => void>(() => undefined)
  useEffect(() => {
    let stopped = false
    let timer: number | undefined
    const run = async () => {
      if (timer !== undefined) window.clearTimeout(timer)
      timer = undefined
      const reply = await loadRef.current(key)
      if (stopped) return
      if (reply.ok) {
        setData(reply.value)
        setError(null)
      } else {
        setError(reply.message)
      }
      if (timer === undefined) timer = window.setTimeout(run, everyMs)
    }
    reloadRef.current = () => void run()
    void run()
    return () => {
      stopped = true
      if (timer !== undefined) window.clearTimeout(timer)
    }
  }, [key, everyMs])
  return { data, error, reload: () => reloadRef.current() }
}
