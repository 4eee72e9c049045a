import {
  InvalidRetrySchedule,
  parseRetrySchedule,
  type RetrySchedule
} from "@messaging-api/domain/RetrySchedule"
import type { InstallationView } from "@messaging-api/http/api/InstallationsApi"
import { useState } from "preact/hooks"
import { ErrorMessage, formatTime, Notice, PageHeading, Status, useCall, usePolling } from "../components.tsx"

/** Installations: list, create (the service checks the endpoint first), delete, rotate the secret, resume. */

const CreateForm = ({ onCreated }: { readonly onCreated: (installation: InstallationView) => void }) => {
  const call = useCall()
  const [bot, setBot] = useState<"echo" | "http">("echo")
  const [botUrl, setBotUrl] = useState("")
  const [responseUrl, setResponseUrl] = useState("")
  const [retrySchedule, setRetrySchedule] = useState("")
  const [skipVerify, setSkipVerify] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (event: Event) => {
    event.preventDefault()
    setError(null)
    // The same parser as the API's: "5s,5m,30m".
    let schedule: RetrySchedule | undefined
    if (retrySchedule.trim() !== "") {
      const parsed = parseRetrySchedule(retrySchedule.trim())
      if (parsed instanceof InvalidRetrySchedule) {
        setError(`Retry schedule: ${parsed.message}`)
        return
      }
      schedule = parsed
    }
    setBusy(true)
    const reply = await call((client) =>
      client.installations.create({
        payload: {
          bot: bot === "echo" ? { _tag: "echo" } : { _tag: "http", url: botUrl },
          responseUrl,
          ...(schedule === undefined ? {} : { retrySchedule: schedule }),
          ...(skipVerify ? { skipVerify: true } : {})
        }
      })
    )
    setBusy(false)
    if (reply.ok) {
      setResponseUrl("")
      onCreated(reply.value)
    } else {
      setError(reply.message)
    }
  }
  return (
    <form class="card" onSubmit={submit} aria-labelledby="create-installation">
      <h2 id="create-installation">New installation</h2>
      <div class="fields">
        <label for="bot">Bot</label>
        <select
          id="bot"
          value={bot}
          onChange={(event) => setBot(event.currentTarget.value === "http" ? "http" : "echo")}
        >
          <option value="echo">echo (replies with the user's message)</option>
          <option value="http">http (POSTs each turn to your bot)</option>
        </select>
        {bot === "http" ? (
          <>
            <label for="bot-url">Bot URL</label>
            <input
              id="bot-url"
              type="url"
              required
              value={botUrl}
              onInput={(event) => setBotUrl(event.currentTarget.value)}
            />
          </>
        ) : null}
        <label for="response-url">Response endpoint URL</label>
        <input
          id="response-url"
          type="url"
          required
          placeholder="https://example.com/botpress"
          aria-describedby="response-url-help"
          value={responseUrl}
          onInput={(event) => setResponseUrl(event.currentTarget.value)}
        />
        <p id="response-url-help" class="help">
          The service POSTs a test message here first and creates the installation only if it answers 2xx.
        </p>
        <label for="retry-schedule">Retry schedule (optional)</label>
        <input
          id="retry-schedule"
          placeholder="5s,5m,30m"
          value={retrySchedule}
          onInput={(event) => setRetrySchedule(event.currentTarget.value)}
        />
        <label class="check">
          <input
            type="checkbox"
            checked={skipVerify}
            onChange={(event) => setSkipVerify(event.currentTarget.checked)}
          />
          Skip the endpoint check
        </label>
      </div>
      <ErrorMessage message={error} />
      <button type="submit" disabled={busy}>
        {busy ? "Checking the endpoint…" : "Create installation"}
      </button>
    </form>
  )
}

export const Installations = () => {
  const call = useCall()
  const list = usePolling("installations", () => call((client) => client.installations.list()), 3000)
  const [created, setCreated] = useState<InstallationView | null>(null)
  const [secret, setSecret] = useState<{ readonly id: string; readonly secret: string } | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [notice, setNotice] = useState<string | null>(null)

  const act = async (label: string, run: () => Promise<{ ok: boolean; message?: string }>) => {
    setError(null)
    setNotice(null)
    const reply = await run()
    if (reply.ok) setNotice(label)
    else setError(reply.message ?? "failed")
    list.reload()
  }

  return (
    <section>
      <PageHeading>Installations</PageHeading>
      <CreateForm
        onCreated={(installation) => {
          setCreated(installation)
          setSecret(null)
          list.reload()
        }}
      />
      {created !== null ? (
        <div class="card shown-once" role="status">
          <h2>Installation created</h2>
          <dl>
            <dt>Webhook URL</dt>
            <dd>
              <code>{created.webhookUrl}</code>
            </dd>
            <dt>Signing secret</dt>
            <dd>
              <code>{created.signingSecret}</code>
            </dd>
          </dl>
        </div>
      ) : null}
      {secret !== null ? (
        <div class="card shown-once" role="status">
          <h2>New signing secret</h2>
          <p>
            For installation <code>{secret.id}</code>; the previous secret keeps signing during the overlap.
          </p>
          <code>{secret.secret}</code>
        </div>
      ) : null}
      <ErrorMessage message={error ?? list.error} />
      {notice !== null ? <Notice>{notice}</Notice> : null}
      <div class="table-wrap">
        <table>
          <caption>Every installation</caption>
          <thead>
            <tr>
              <th scope="col">Installation</th>
              <th scope="col">Bot</th>
              <th scope="col">Response endpoint</th>
              <th scope="col">Endpoint</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((installation) => (
              <tr key={installation.id}>
                <td>
                  <code>{installation.id}</code>
                  <br />
                  <small>
                    webhook <code>{installation.webhookUrl}</code>
                  </small>
                </td>
                <td>
                  {installation.bot._tag === "http" ? `http: ${installation.bot.url}` : installation.bot._tag}
                </td>
                <td class="break">{installation.responseUrl}</td>
                <td>
                  <Status value={installation.endpoint.status} />
                  {installation.endpoint.lastError !== undefined ? (
                    <small class="reason">{installation.endpoint.lastError}</small>
                  ) : null}
                </td>
                <td>{formatTime(installation.createdAt)}</td>
                <td class="actions">
                  {installation.endpoint.status !== "healthy" ? (
                    <button
                      type="button"
                      onClick={() =>
                        act("Endpoint resumed.", () =>
                          call((client) => client.installations.resume({ params: { id: installation.id } }))
                        )
                      }
                    >
                      Resume
                    </button>
                  ) : null}
                  <button
                    type="button"
                    class="secondary"
                    onClick={() =>
                      act("Signing secret rotated.", async () => {
                        const reply = await call((client) =>
                          client.installations.rotateSecret({ params: { id: installation.id } })
                        )
                        if (reply.ok) setSecret({ id: installation.id, secret: reply.value.signingSecret })
                        return reply
                      })
                    }
                  >
                    Rotate secret
                  </button>
                  <button
                    type="button"
                    class="danger"
                    aria-label={`Delete installation ${installation.id}`}
                    onClick={() => {
                      if (!window.confirm(`Delete installation ${installation.id}?`)) return
                      void act("Installation deleted.", () =>
                        call((client) => client.installations.delete({ params: { id: installation.id } }))
                      )
                    }}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}
