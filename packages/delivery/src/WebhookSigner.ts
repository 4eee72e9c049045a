import { createHmac, createSecretKey, type KeyObject } from "node:crypto"

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the signature is the base64
 * HMAC-SHA256 of `id.timestamp.body`, keyed with the base64-decoded part of the `whsec_` secret.
 * Deliveries and the http bot sign the same way, so a receiver verifies both with one library.
 * While a rotated-out secret still signs, `webhook-signature` lists one signature per secret,
 * space-separated (`v1,<new> v1,<old>`): a receiver holding either secret verifies the request.
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

export interface SignedInput {
  /** The installation's `whsec_…` secrets, the current one first; at least one. */
  readonly secrets: ReadonlyArray<string>
  readonly id: string
  readonly timestamp: number
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

const sign = (secret: string, content: string): string =>
  `v1,${createHmac("sha256", keyOf(secret)).update(content).digest("base64")}`

/** `v1,<base64 signature>`. */
export const signature = (input: SignatureInput): string =>
  sign(input.secret, `${input.id}.${input.timestamp}.${input.body}`)

/** The three headers, with one signature per secret (space-separated, in the secrets' order). */
export const headers = (input: SignedInput): WebhookHeaders => {
  const content = `${input.id}.${input.timestamp}.${input.body}`
  let signatures = ""
  for (const secret of input.secrets) {
    signatures = signatures === "" ? sign(secret, content) : `${signatures} ${sign(secret, content)}`
  }
  return {
    "webhook-id": input.id,
    "webhook-timestamp": String(input.timestamp),
    "webhook-signature": signatures
  }
}
