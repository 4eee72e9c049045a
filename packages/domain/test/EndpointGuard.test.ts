import type { LookupAddress } from "node:dns"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as EndpointGuard from "../src/EndpointGuard.ts"

// Pure checks of addresses and URLs. Names resolve with a resolver of the test's own, and nothing
// here opens a connection.

const names: Record<string, ReadonlyArray<EndpointGuard.ResolvedAddress>> = {
  "public.test": [{ address: "93.184.216.34", family: 4 }],
  "internal.test": [{ address: "10.0.0.7", family: 4 }],
  "metadata.test": [{ address: "169.254.169.254", family: 4 }],
  "mixed.test": [
    { address: "93.184.216.34", family: 4 },
    { address: "fd00::1", family: 6 }
  ],
  "mapped.test": [{ address: "::ffff:127.0.0.1", family: 6 }]
}
const resolve: EndpointGuard.Resolver = (hostname) =>
  names[hostname] === undefined ? Promise.reject(new Error("ENOTFOUND")) : Promise.resolve(names[hostname])

const closed = EndpointGuard.make({ allowedNetworks: [], resolve })

describe("EndpointGuard", () => {
  it("refuses every special-purpose address and allows public ones", () => {
    const refused = [
      "127.0.0.1",
      "127.255.0.9",
      "10.1.2.3",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "239.255.255.250",
      "240.0.0.1",
      "255.255.255.255",
      "198.18.0.1",
      "192.0.2.1",
      "::",
      "::1",
      "fc00::1",
      "fd12:3456::1",
      "fe80::1",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      "::ffff:169.254.169.254",
      "64:ff9b::a00:1",
      "2002:7f00:1::1",
      "2001:db8::1"
    ]
    for (const address of refused) {
      assert.isString(closed.addressProblem(address), `${address} must be refused`)
    }
    for (const address of ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111"]) {
      assert.isUndefined(closed.addressProblem(address), `${address} must be allowed`)
    }
    assert.include(closed.addressProblem("169.254.169.254")!, "link-local")
    assert.include(closed.addressProblem("::ffff:10.0.0.1")!, "private")
  })

  it("opens exactly the ranges an operator allows", () => {
    const opened = EndpointGuard.make({
      allowedNetworks: ["127.0.0.0/8", "10.1.0.0/16", "fd00::/8"],
      resolve
    })
    assert.isUndefined(opened.addressProblem("127.0.0.1"))
    assert.isUndefined(opened.addressProblem("::ffff:127.0.0.1"))
    assert.isUndefined(opened.addressProblem("10.1.200.3"))
    assert.isUndefined(opened.addressProblem("fd00::1"))
    assert.isString(opened.addressProblem("10.2.0.1"))
    assert.isString(opened.addressProblem("::1"))
    assert.isString(opened.addressProblem("192.168.0.1"))
  })

  it("parses ALLOWED_ENDPOINT_NETWORKS and names what is wrong", () => {
    assert.deepStrictEqual(EndpointGuard.parseNetworks(" 127.0.0.0/8, ::1 ,10.1.0.0/16,"), [
      "127.0.0.0/8",
      "::1",
      "10.1.0.0/16"
    ])
    assert.deepStrictEqual(EndpointGuard.parseNetworks(""), [])
    assert.deepStrictEqual(EndpointGuard.parseNetworks(" None "), [])
    assert.include(EndpointGuard.parseNetworks("127.0.0.0/33") as string, "prefix")
    assert.include(EndpointGuard.parseNetworks("localhost") as string, "not an IP address")
    assert.include(EndpointGuard.parseNetworks("10.0.0.0/8x") as string, "prefix")
  })

  it.effect("checks a URL's scheme, credentials and every address its host resolves to", () =>
    Effect.gen(function* () {
      const refusal = (url: string) =>
        EndpointGuard.check(closed, url).pipe(
          Effect.match({ onFailure: (refused) => refused.reason, onSuccess: () => undefined })
        )
      for (const url of [
        "http://127.0.0.1:5432/",
        "http://[::1]:6379/",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://[::ffff:7f00:1]/",
        "http://internal.test/hook",
        "http://metadata.test/latest/meta-data",
        "http://mixed.test/",
        "http://mapped.test/",
        "http://nowhere.test/",
        "ftp://public.test/",
        "http://user:secret@public.test/"
      ]) {
        assert.isString(yield* refusal(url), `${url} must be refused`)
      }
      assert.isUndefined(yield* refusal("https://public.test/hook"))
      assert.include((yield* refusal("http://mixed.test/"))!, "fd00::1")
      assert.include((yield* refusal("http://nowhere.test/"))!, "does not resolve")
    })
  )

  it("refuses a connection whose name resolves to a refused address, and lets the hook see every other", async () => {
    const seen: Array<string> = []
    const guard = EndpointGuard.make({
      allowedNetworks: [],
      resolve,
      beforeConnect: (address) => void seen.push(address)
    })
    const lookup = EndpointGuard.lookup(guard)
    const run = (hostname: string, all: boolean) =>
      new Promise<{ error: unknown; result: unknown }>((done) =>
        lookup(hostname, { all }, (error: unknown, result?: string | Array<LookupAddress>) =>
          done({ error, result })
        )
      )
    const refused = await run("internal.test", true)
    assert.instanceOf(refused.error, EndpointGuard.AddressNotAllowed)
    assert.include(String(refused.error), "10.0.0.7")
    const allowed = await run("public.test", true)
    assert.isNull(allowed.error)
    assert.deepStrictEqual(allowed.result, [{ address: "93.184.216.34", family: 4 }])
    const single = await run("public.test", false)
    assert.strictEqual(single.result, "93.184.216.34")
    assert.deepStrictEqual(seen, ["93.184.216.34", "93.184.216.34"])
  })
})
