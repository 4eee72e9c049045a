import { Effect } from "effect"
import { useEffect, useState } from "preact/hooks"
import { call } from "./Api.ts"
import { ErrorMessage } from "./components.tsx"
import { Conversations } from "./pages/Conversations.tsx"
import { ConversationTimeline } from "./pages/ConversationTimeline.tsx"
import { Deliveries } from "./pages/Deliveries.tsx"
import { Installations } from "./pages/Installations.tsx"
import { Overview } from "./pages/Overview.tsx"
import { Tokens } from "./pages/Tokens.tsx"
import { forgetToken, type Session, SessionContext, storedToken, storeToken } from "./Session.ts"

/** Pages are addressed by the URL's hash (`#/deliveries`), so a reload stays where it was. */
const currentRoute = (): string => window.location.hash.replace(/^#/, "") || "/"

const useRoute = (): string => {
  const [route, setRoute] = useState(currentRoute)
  useEffect(() => {
    const onChange = () => setRoute(currentRoute())
    window.addEventListener("hashchange", onChange)
    return () => window.removeEventListener("hashchange", onChange)
  }, [])
  return route
}

/**
 * Whether the token is valid (any token may list deliveries) and whether it is an admin's (only
 * an admin's may list installations): the console shows what the API lets the token see.
 */
const checkToken = async (token: string) => {
  const valid = await call(token, (client) => client.deliveries.list({ query: { limit: 1 } }))
  if (!valid.ok) return valid
  const admin = await call(token, (client) =>
    client.installations.list().pipe(
      Effect.as(true),
      Effect.catchTag("Forbidden", () => Effect.succeed(false))
    )
  )
  return admin
}

const SignIn = ({
  onSignedIn,
  reason
}: {
  readonly onSignedIn: (session: Session) => void
  readonly reason: string | null
}) => {
  const [token, setToken] = useState("")
  const [error, setError] = useState<string | null>(reason)
  const [busy, setBusy] = useState(false)
  const submit = async (event: Event) => {
    event.preventDefault()
    setBusy(true)
    const checked = await checkToken(token.trim())
    setBusy(false)
    if (!checked.ok) {
      setError(checked.message)
      return
    }
    storeToken(token.trim())
    onSignedIn({ token: token.trim(), admin: checked.value, signOut: () => undefined })
  }
  return (
    <main class="sign-in" id="main">
      <h1>Messaging API console</h1>
      <form onSubmit={submit} aria-describedby="sign-in-help">
        <label for="token">Access token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(event) => setToken(event.currentTarget.value)}
        />
        <p id="sign-in-help" class="help">
          Kept in this browser tab only, until the browser session ends.
        </p>
        <ErrorMessage message={error} />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  )
}

interface NavItem {
  readonly href: string
  readonly label: string
  readonly adminOnly: boolean
}

const nav: ReadonlyArray<NavItem> = [
  { href: "#/", label: "Overview", adminOnly: false },
  { href: "#/installations", label: "Installations", adminOnly: true },
  { href: "#/tokens", label: "Tokens", adminOnly: true },
  { href: "#/conversations", label: "Conversations", adminOnly: false },
  { href: "#/deliveries", label: "Deliveries", adminOnly: false }
]

const Page = ({ route, admin }: { readonly route: string; readonly admin: boolean }) => {
  const timeline = /^\/conversations\/([^/]+)$/.exec(route)
  if (timeline !== null) return <ConversationTimeline conversationId={decodeURIComponent(timeline[1]!)} />
  switch (route) {
    case "/installations":
      return admin ? <Installations /> : <NotAllowed />
    case "/tokens":
      return admin ? <Tokens /> : <NotAllowed />
    case "/conversations":
      return <Conversations />
    case "/deliveries":
      return <Deliveries />
    default:
      return <Overview />
  }
}

const NotAllowed = () => (
  <section>
    <h1>Not available</h1>
    <p>This page needs an admin token.</p>
  </section>
)

export const App = () => {
  const route = useRoute()
  const [session, setSession] = useState<Omit<Session, "signOut"> | null>(null)
  const [reason, setReason] = useState<string | null>(null)
  const [restoring, setRestoring] = useState(storedToken() !== null)

  const signOut = (why?: string) => {
    forgetToken()
    setSession(null)
    setReason(why ?? null)
  }

  useEffect(() => {
    const token = storedToken()
    if (token === null) return
    void checkToken(token).then((checked) => {
      setRestoring(false)
      if (checked.ok) setSession({ token, admin: checked.value })
      else signOut(checked.message)
    })
  }, [])

  if (restoring) return <p role="status">Signing in…</p>
  if (session === null) {
    return (
      <SignIn
        reason={reason}
        onSignedIn={(signedIn) => {
          setReason(null)
          setSession({ token: signedIn.token, admin: signedIn.admin })
        }}
      />
    )
  }
  const active = (href: string) =>
    href === "#/" ? route === "/" : route === href.slice(1) || route.startsWith(`${href.slice(1)}/`)
  return (
    <SessionContext.Provider value={{ ...session, signOut }}>
      <button type="button" class="skip" onClick={() => document.getElementById("main")?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">Messaging API</span>
        <nav aria-label="Console">
          <ul>
            {nav
              .filter((item) => session.admin || !item.adminOnly)
              .map((item) => (
                <li key={item.href}>
                  <a href={item.href} aria-current={active(item.href) ? "page" : undefined}>
                    {item.label}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
        <span class="who">{session.admin ? "admin token" : "limited token"}</span>
        <button type="button" class="secondary" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} admin={session.admin} />
      </main>
    </SessionContext.Provider>
  )
}
