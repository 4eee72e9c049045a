import * as Dns from "node:dns"
import { BlockList, isIP, type LookupFunction } from "node:net"
import { Context, Effect, Layer, Schema } from "effect"

/**
 * Which addresses the service may send requests to: response endpoints, http bots and the
 * installation check. An address that is loopback, private, link-local, CGNAT, unspecified,
 * multicast or reserved (IPv4-mapped IPv6 forms included) is refused unless an operator opened
 * its range (`ALLOWED_ENDPOINT_NETWORKS`). The check runs when an installation is created and
 * again for every connection, on the address the name resolved to then, so DNS rebinding cannot
 * slip past it.
 */

/** A URL the service will not call, and why (400 `endpoint_not_allowed` at creation). */
export class EndpointNotAllowed extends Schema.TaggedError<EndpointNotAllowed>()("EndpointNotAllowed", {
  url: Schema.String,
  reason: Schema.String
}) {}

/** One resolved address of a host name, as `dns.lookup(name, { all: true })` answers. */
export interface ResolvedAddress {
  readonly address: string
  readonly family: 4 | 6
}

/** How host names become addresses: the system resolver, or a test's own. */
export type Resolver = (hostname: string) => Promise<ReadonlyArray<ResolvedAddress>>

export const systemResolver: Resolver = (hostname) =>
  Dns.promises
    .lookup(hostname, { all: true, verbatim: true })
    .then((all) => all.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 })))

/** The special-purpose ranges refused unless opened, with the name a refusal gives. */
const specialRanges: ReadonlyArray<readonly [cidr: string, kind: string]> = [
  ["0.0.0.0/8", "unspecified"],
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "shared (CGNAT)"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "reserved"],
  ["192.0.2.0/24", "reserved"],
  ["192.88.99.0/24", "reserved"],
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "reserved"],
  ["198.51.100.0/24", "reserved"],
  ["203.0.113.0/24", "reserved"],
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved"],
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["64:ff9b::/96", "reserved (NAT64)"],
  ["64:ff9b:1::/48", "reserved (NAT64)"],
  ["100::/64", "reserved"],
  ["2001::/23", "reserved"],
  ["2001:db8::/32", "reserved"],
  ["2002::/16", "reserved (6to4)"],
  ["fc00::/7", "private (ULA)"],
  ["fe80::/10", "link-local"],
  ["fec0::/10", "reserved"],
  ["ff00::/8", "multicast"]
]

/** `a.b.c.d/n` or `x::y/n`; a bare address is its own /32 or /128. */
export const parseCidr = (text: string): { address: string; prefix: number; family: 4 | 6 } | string => {
  const trimmed = text.trim()
  const slash = trimmed.indexOf("/")
  const address = slash === -1 ? trimmed : trimmed.slice(0, slash)
  const family = isIP(address)
  if (family === 0) return `${JSON.stringify(trimmed)} is not an IP address or CIDR range`
  const max = family === 4 ? 32 : 128
  const prefixText = slash === -1 ? String(max) : trimmed.slice(slash + 1)
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN
  if (!(prefix >= 0 && prefix <= max)) return `${JSON.stringify(trimmed)} has a prefix outside 0-${max}`
  return { address, prefix, family: family === 6 ? 6 : 4 }
}

/** Comma-separated CIDR ranges (`ALLOWED_ENDPOINT_NETWORKS`), or `none`: the ranges, or what is wrong. */
export const parseNetworks = (text: string): ReadonlyArray<string> | string => {
  if (text.trim().toLowerCase() === "none") return []
  const parts = text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
  for (const part of parts) {
    const parsed = parseCidr(part)
    if (typeof parsed === "string") return parsed
  }
  return parts
}

const blockListOf = (cidrs: ReadonlyArray<string>): BlockList => {
  const list = new BlockList()
  for (const cidr of cidrs) {
    const parsed = parseCidr(cidr)
    if (typeof parsed === "string") throw new Error(parsed)
    list.addSubnet(parsed.address, parsed.prefix, parsed.family === 4 ? "ipv4" : "ipv6")
  }
  return list
}

// Built on first use: the module also loads where there is no node:net (the console's bundle).
let special: ReadonlyArray<readonly [BlockList, string]> | undefined
const specialLists = () => {
  special ??= specialRanges.map(([cidr, kind]) => [blockListOf([cidr]), kind] as const)
  return special
}

/** Loopback in both families: what a local trial opens. */
export const LOOPBACK_NETWORKS: ReadonlyArray<string> = ["127.0.0.0/8", "::1/128"]

export interface EndpointGuardShape {
  /** The special ranges an operator opened. */
  readonly allowedNetworks: ReadonlyArray<string>
  readonly resolve: Resolver
  /**
   * Called with every address a connection is about to be made to, after the check: a test's
   * safety net (it throws for anything outside loopback). Undefined in service.
   */
  readonly beforeConnect?: ((address: string) => void) | undefined
}

export interface EndpointGuard extends EndpointGuardShape {
  /** Why this address may not be called, or undefined when it may. */
  readonly addressProblem: (address: string) => string | undefined
}

export const make = (shape: EndpointGuardShape): EndpointGuard => {
  const allowed = blockListOf(shape.allowedNetworks)
  const addressProblem = (address: string): string | undefined => {
    const family = isIP(address)
    if (family === 0) return `${address} is not an IP address`
    const type = family === 4 ? "ipv4" : "ipv6"
    if (allowed.check(address, type)) return undefined
    for (const [list, kind] of specialLists()) {
      if (list.check(address, type)) return `${address} is a ${kind} address`
    }
    return undefined
  }
  return { ...shape, addressProblem }
}

/**
 * The guard in use. Its default refuses every special range and resolves with the system's
 * resolver: an embedder who provides nothing gets the safe behaviour.
 */
export const EndpointGuard = Context.Reference<EndpointGuard>("@messaging-api/domain/EndpointGuard", {
  defaultValue: () => make({ allowedNetworks: [], resolve: systemResolver })
})

/** The guard with these ranges opened (and optionally a resolver and connect hook of the caller's). */
export const layer = (
  shape: Partial<EndpointGuardShape> & { readonly allowedNetworks: ReadonlyArray<string> }
) => Layer.succeed(EndpointGuard, make({ resolve: systemResolver, ...shape }))

/** The host of a URL as an address or a name: IPv6 literals lose their brackets. */
const hostOf = (url: URL): string => (url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname)

/**
 * The URL, parsed once, if the service may call it at all (absolute http(s), no credentials);
 * otherwise why not. Names are resolved later.
 */
export const parseEndpoint = (url: string): URL | string => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "not an absolute URL"
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    return `${parsed.protocol} URLs are not allowed`
  if (parsed.username !== "" || parsed.password !== "") return "must not contain a user name or password"
  return parsed
}

/**
 * Whether the service may call this URL now: its scheme, and every address its host resolves to.
 * What the installation check and the creation of an installation ask.
 */
export const check = (guard: EndpointGuard, url: string): Effect.Effect<void, EndpointNotAllowed> =>
  Effect.gen(function* () {
    const refuse = (reason: string) => new EndpointNotAllowed({ url, reason })
    const parsed = parseEndpoint(url)
    if (typeof parsed === "string") return yield* refuse(parsed)
    const host = hostOf(parsed)
    const addresses: ReadonlyArray<ResolvedAddress> =
      isIP(host) !== 0
        ? [{ address: host, family: isIP(host) === 6 ? 6 : 4 }]
        : yield* Effect.tryPromise({
            try: () => guard.resolve(host),
            catch: () => refuse(`${host} does not resolve`)
          })
    if (addresses.length === 0) return yield* refuse(`${host} does not resolve`)
    for (const { address } of addresses) {
      const reason = guard.addressProblem(address)
      if (reason !== undefined) return yield* refuse(`${host} resolves to a refused address: ${reason}`)
    }
  })

/** The literal address of a URL's host that the guard refuses, if any: connections to literals skip `lookup`. */
export const literalProblem = (guard: EndpointGuard, url: URL): string | undefined => {
  const host = hostOf(url)
  if (isIP(host) === 0) return undefined
  const problem = guard.addressProblem(host)
  if (problem === undefined) guard.beforeConnect?.(host)
  return problem
}

/** The error a refused connection fails with (its message reaches delivery records). */
export class AddressNotAllowed extends Error {
  readonly code = "EADDRNOTALLOWED"
}

/**
 * A `lookup` for `net.connect`/`tls.connect` (and so undici's connector): resolves with the
 * guard's resolver and refuses the connection when any resolved address is refused.
 */
export const lookup = (guard: EndpointGuard): LookupFunction =>
  ((hostname: string, options: Dns.LookupOptions, callback: (...args: Array<unknown>) => void) => {
    guard.resolve(hostname).then(
      (addresses) => {
        const wanted = addresses.filter(
          ({ family }) => options.family === undefined || options.family === 0 || options.family === family
        )
        if (wanted.length === 0) {
          const error = Object.assign(new Error(`${hostname} does not resolve`), { code: "ENOTFOUND" })
          return callback(error)
        }
        for (const { address } of wanted) {
          const problem = guard.addressProblem(address)
          if (problem !== undefined) {
            return callback(new AddressNotAllowed(`endpoint not allowed: ${hostname} resolves to ${problem}`))
          }
        }
        try {
          for (const { address } of wanted) guard.beforeConnect?.(address)
        } catch (error) {
          return callback(error)
        }
        if (options.all === true) return callback(null, wanted)
        return callback(null, wanted[0]!.address, wanted[0]!.family)
      },
      (error: unknown) => callback(error)
    )
  }) as LookupFunction
