import { InstallationId } from "@messaging-api/domain/Ids"
import type { CreatedToken } from "@messaging-api/http/api/TokensApi"
import { Result, Schema } from "effect"
import { useState } from "preact/hooks"
import { ErrorMessage, formatTime, Notice, PageHeading, useCall, usePolling } from "../components.tsx"

/** Access tokens: create (the token is shown once), list, revoke. */

const decodeIds = Schema.decodeUnknownResult(Schema.Array(InstallationId))

export const Tokens = () => {
  const call = useCall()
  const list = usePolling("tokens", () => call((client) => client.tokens.list()), 5000)
  const [name, setName] = useState("")
  const [admin, setAdmin] = useState(false)
  const [installationIds, setInstallationIds] = useState("")
  const [created, setCreated] = useState<CreatedToken | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [notice, setNotice] = useState<string | null>(null)

  const create = async (event: Event) => {
    event.preventDefault()
    setError(null)
    const decoded = decodeIds(
      installationIds
        .split(/[\s,]+/)
        .map((id) => id.trim())
        .filter((id) => id !== "")
    )
    if (Result.isFailure(decoded)) {
      setError("Installations: each must be an installation id (a UUID).")
      return
    }
    const ids = decoded.success
    const reply = await call((client) =>
      client.tokens.create({
        payload: {
          ...(name.trim() === "" ? {} : { name: name.trim() }),
          ...(admin ? { admin: true } : {}),
          ...(ids.length > 0 ? { installationIds: ids } : {})
        }
      })
    )
    if (reply.ok) {
      setCreated(reply.value)
      setName("")
      list.reload()
    } else {
      setError(reply.message)
    }
  }

  const revoke = async (id: string) => {
    setError(null)
    const reply = await call((client) => client.tokens.revoke({ params: { id } }))
    if (reply.ok) setNotice(`Token ${reply.value.name || id} revoked.`)
    else setError(reply.message)
    list.reload()
  }

  return (
    <section>
      <PageHeading>Tokens</PageHeading>
      <form class="card" onSubmit={create} aria-labelledby="create-token">
        <h2 id="create-token">New token</h2>
        <div class="fields">
          <label for="token-name">Name</label>
          <input id="token-name" value={name} onInput={(event) => setName(event.currentTarget.value)} />
          <label class="check">
            <input
              type="checkbox"
              checked={admin}
              onChange={(event) => setAdmin(event.currentTarget.checked)}
            />
            Admin (may use the admin API and this console's admin pages)
          </label>
          <label for="token-installations">Only these installations (ids, comma-separated; empty: all)</label>
          <input
            id="token-installations"
            value={installationIds}
            onInput={(event) => setInstallationIds(event.currentTarget.value)}
          />
        </div>
        <ErrorMessage message={error} />
        <button type="submit">Create token</button>
      </form>
      {created !== null ? (
        <div class="card shown-once" role="status">
          <h2>Token created</h2>
          <p>Copy it now: it is shown this once and never again.</p>
          <code class="secret">{created.token}</code>
        </div>
      ) : null}
      {notice !== null ? <Notice>{notice}</Notice> : null}
      <ErrorMessage message={list.error} />
      <div class="table-wrap">
        <table>
          <caption>Every token</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Installations</th>
              <th scope="col">Created</th>
              <th scope="col">Revoked</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((token) => (
              <tr key={token.id}>
                <td>{token.name || <code>{token.id}</code>}</td>
                <td>{token.admin ? "admin" : "webhooks and history"}</td>
                <td>{token.installationIds === null ? "all" : token.installationIds.join(", ")}</td>
                <td>{formatTime(token.createdAt)}</td>
                <td>{formatTime(token.revokedAt)}</td>
                <td>
                  {token.revokedAt === null ? (
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Revoke token ${token.name || token.id}`}
                      onClick={() => void revoke(token.id)}
                    >
                      Revoke
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}
