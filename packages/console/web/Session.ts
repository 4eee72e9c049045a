import { createContext } from "preact"
import { useContext } from "preact/hooks"

/**
 * The signed-in token lives in `sessionStorage`: it survives a reload of the tab and is gone when
 * the browser session ends. It is never put in a URL, a cookie or `localStorage`.
 */

const key = "messaging-api.console.token"

export const storedToken = (): string | null => window.sessionStorage.getItem(key)
export const storeToken = (token: string): void => window.sessionStorage.setItem(key, token)
export const forgetToken = (): void => window.sessionStorage.removeItem(key)

export interface Session {
  readonly token: string
  /** Admin tokens see installations and tokens; others only their installations' history and deliveries. */
  readonly admin: boolean
  readonly signOut: (reason?: string) => void
}

export const SessionContext = createContext<Session | null>(null)

export const useSession = (): Session => {
  const session = useContext(SessionContext)
  if (session === null) throw new Error("useSession outside a signed-in page")
  return session
}
