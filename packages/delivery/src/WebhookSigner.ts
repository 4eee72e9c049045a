import { createHmac, createSecretKey, type KeyObject } from "node:crypto"

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the signature is the base64
 * HMAC-SHA256 of `id.timestamp.body`, keyed with the base64-decoded part of the `whsec_` secret.
 * Deliveries and the http bot sign the same way, so a receiver verifies both with one library.
 */

export interface SignatureInput {
  /** The installation's `whsec_…` secret. */
  readonly secret: string
  /** `webhook-id`: stable across retries of one message. */
  readonly id: string
  /** `webhook-timestamp`: seconds since the epoch, taken at each attempt. */
  readonly timestamp: number
  /** The exact bytes that are sent, as a string. */
  readonly body: string
}

export type WebhookHeaders = {
  readonly "webhook-id": string
  readonly "webhook-timestamp": string
  readonly "webhook-signature": string
}

const SECRET_PREFIX = "whsec_"

// A key object per secret, made once: building one from the base64 text on every signature shows
// in delivery profiles. Installations are few, so the map stays small.
const keys = new Map<string, KeyObject>()
const keyOf = (secret: string): KeyObject => {
  let key = keys.get(secret)
  if (key === undefined) {
    key = createSecretKey(
      Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64")
    )
    if (keys.size >= 10_000) keys.clear()
    keys.set(secret, key)
  }
  return key
}

/** `v1,<base64 signature>`. */
export const signature = (input: SignatureInput): string =>
  `v1,${createHmac("sha256", keyOf(input.secret))
    .update(`${input.id}.${input.timestamp}.${input.body}`)
    .digest("base64")}`

export const headers = (input: SignatureInput): WebhookHeaders => ({
  "webhook-id": input.id,
  "webhook-timestamp": String(input.timestamp),
  "webhook-signature": signature(input)
})
