import { hash, randomBytes, timingSafeEqual } from "node:crypto"

/**
 * The string of a personal access token: `mapi_<id>_<secret>`, where `<id>` (16 hex digits) finds
 * the row and `<secret>` is 32 random bytes in base64url. Only the SHA-256 of the whole string is
 * stored (the secret is high-entropy, so a slow hash buys nothing), compared in constant time.
 */

const PREFIX = "mapi_"
const tokenPattern = /^mapi_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/

/** The hash stored for a token, and compared with a presented one's. */
export const sha256 = (value: string): Buffer => hash("sha256", value, "buffer")

/**
 * The row id of a presented token: the id inside a `mapi_` token, or for any other string (a
 * seeded token) one derived from its hash (`digest`, when the caller has it already).
 */
export const tokenIdOf = (token: string, digest?: Buffer): string => {
  const match = tokenPattern.exec(token)
  return match === null ? `env${(digest ?? sha256(token)).toString("hex").slice(0, 16)}` : match[1]!
}

/** A new token and its id: the only time the secret exists outside the caller's hands. */
export const newToken = (): { readonly id: string; readonly token: string } => {
  const id = randomBytes(8).toString("hex")
  return { id, token: `${PREFIX}${id}_${randomBytes(32).toString("base64url")}` }
}

/** Compared against when the id is unknown, so that a miss does the same work as a wrong secret. */
const noHash = new Uint8Array(32)

/**
 * Whether a presented token's hash is the stored one (`undefined`: no token has the id), in
 * constant time: a miss compares against a hash of zeros, so it takes as long as a wrong secret.
 */
export const hashMatches = (stored: Uint8Array | undefined, presented: Uint8Array): boolean => {
  const matches = timingSafeEqual(stored?.length === presented.length ? stored : noHash, presented)
  return stored !== undefined && matches
}
