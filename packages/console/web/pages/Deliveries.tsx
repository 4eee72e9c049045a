import type { DeliveryView } from "@messaging-api/http/api/DeliveriesApi"
import { useState } from "preact/hooks"
import {
  ErrorMessage,
  failureText,
  formatTime,
  Notice,
  PageHeading,
  Status,
  useCall,
  usePolling
} from "../components.tsx"

/**
 * Dead letters with their reason; redeliver one or a selection, then watch them go out: the
 * redelivered messages stay listed with their status until each is delivered or dead again.
 */

const payloadText = (payload: unknown): string =>
  typeof payload === "object" && payload !== null && "text" in payload && typeof payload.text === "string"
    ? payload.text
    : JSON.stringify(payload)

export const Deliveries = () => {
  const call = useCall()
  const dead = usePolling(
    "dead",
    () => call((client) => client.deliveries.list({ query: { dead: true, limit: 200 } })),
    2000
  )
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set())
  const [watched, setWatched] = useState<ReadonlyArray<string>>([])
  const [error, setError] = useState<string | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const recent = usePolling(
    watched.join(","),
    () => call((client) => client.deliveries.list({ query: { limit: 200 } })),
    1000
  )
  const watchedRecords: ReadonlyArray<typeof DeliveryView.Type> = watched.flatMap((id) =>
    (recent.data ?? []).filter((record) => record.messageId === id)
  )

  const redeliver = async (ids: ReadonlyArray<string>) => {
    setError(null)
    setNotice(null)
    const failures: Array<string> = []
    for (const id of ids) {
      const reply = await call((client) => client.deliveries.redeliver({ params: { botpressMessageId: id } }))
      if (!reply.ok) failures.push(`${id}: ${reply.message}`)
    }
    const sent = ids.length - failures.length
    if (sent > 0) setNotice(`${sent} ${sent === 1 ? "message" : "messages"} queued for redelivery.`)
    if (failures.length > 0) setError(failures.join("\n"))
    setWatched((current) => [...ids.filter((id) => !current.includes(id)), ...current])
    setSelected(new Set())
    dead.reload()
    recent.reload()
  }

  const toggle = (id: string, on: boolean) => {
    const next = new Set(selected)
    if (on) next.add(id)
    else next.delete(id)
    setSelected(next)
  }

  const rows = dead.data ?? []
  return (
    <section>
      <PageHeading>Deliveries</PageHeading>
      <ErrorMessage message={error ?? dead.error} />
      {notice !== null ? <Notice>{notice}</Notice> : null}
      <div class="toolbar">
        <button type="button" disabled={selected.size === 0} onClick={() => void redeliver([...selected])}>
          Redeliver selected ({selected.size})
        </button>
      </div>
      <div class="table-wrap">
        <table>
          <caption>Dead letters, newest first</caption>
          <thead>
            <tr>
              <th scope="col">
                <input
                  type="checkbox"
                  aria-label="Select every dead letter"
                  checked={rows.length > 0 && selected.size === rows.length}
                  onChange={(event) =>
                    setSelected(
                      event.currentTarget.checked ? new Set(rows.map((row) => row.messageId)) : new Set()
                    )
                  }
                />
              </th>
              <th scope="col">Message</th>
              <th scope="col">Reason</th>
              <th scope="col">Attempts</th>
              <th scope="col">Dead since</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((record) => (
              <tr key={record.messageId}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Select ${record.messageId}`}
                    checked={selected.has(record.messageId)}
                    onChange={(event) => toggle(record.messageId, event.currentTarget.checked)}
                  />
                </td>
                <td>
                  <a href={`#/conversations/${record.conversationId}`}>{payloadText(record.payload)}</a>
                  <br />
                  <small>
                    <code>{record.messageId}</code>
                  </small>
                </td>
                <td class="reason">{failureText(record.lastError, record.lastStatus)}</td>
                <td>{record.attempts}</td>
                <td>{formatTime(record.deadLetteredAt)}</td>
                <td>
                  <button
                    type="button"
                    aria-label={`Redeliver ${record.messageId}`}
                    onClick={() => void redeliver([record.messageId])}
                  >
                    Redeliver
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {dead.data !== null && rows.length === 0 ? <p>No dead letters.</p> : null}
      {watched.length > 0 ? (
        <div class="table-wrap">
          <table aria-live="polite">
            <caption>Redelivered from this page</caption>
            <thead>
              <tr>
                <th scope="col">Message</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last error</th>
                <th scope="col">Delivered</th>
              </tr>
            </thead>
            <tbody>
              {watchedRecords.map((record) => (
                <tr key={record.messageId} data-message-id={record.messageId}>
                  <td>
                    <code>{record.messageId}</code>
                  </td>
                  <td>
                    <Status value={record.status} />
                  </td>
                  <td>{record.attempts}</td>
                  <td class="reason">{record.lastError ?? "—"}</td>
                  <td>{formatTime(record.deliveredAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  )
}
