import { connect, type Socket } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { fileDatabaseUrl } from "./FileDatabase.ts"
import { adminToken, startServer } from "./ServerProcess.ts"

const databaseUrl = await fileDatabaseUrl()

/**
 * A client that sends its request slowly, or only half of it, is cut off: headers within
 * REQUEST_HEADERS_TIMEOUT, the whole request within REQUEST_BODY_TIMEOUT (here a fraction of a
 * second, so the test does not wait the default 10 s / 30 s). Meanwhile the server answers others.
 */

/** Writes `sent` to a raw connection and resolves with what came back once the server closed it. */
const sendAndWaitForClose = (url: string, sent: string) =>
  Effect.callback<{ readonly answer: string; readonly closedAfterMs: number }>((resume) => {
    const { hostname, port } = new URL(url)
    const started = Date.now()
    let answer = ""
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.write(sent))
    socket.on("data", (chunk) => {
      answer += chunk.toString("utf8")
    })
    socket.on("error", () => undefined)
    socket.on("close", () => resume(Effect.succeed({ answer, closedAfterMs: Date.now() - started })))
    return Effect.sync(() => socket.destroy())
  })

describe("slow clients", () => {
  it.live(
    "a half-sent body gets 408 and the connection is closed; unfinished headers are cut off too",
    () =>
      Effect.gen(function* () {
        const server = yield* startServer({
          DATABASE_URL: databaseUrl,
          REQUEST_HEADERS_TIMEOUT: "300 millis",
          REQUEST_BODY_TIMEOUT: "600 millis"
        })
        const host = new URL(server.url).host
        const halfBody = yield* sendAndWaitForClose(
          server.url,
          // An authorized request whose body the server must read (a 401 or 404 would not wait for it).
          `POST /v1/installations HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${adminToken}\r\n` +
            `Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"bot":`
        )
        assert.match(halfBody.answer, /^HTTP\/1\.1 408/, halfBody.answer)
        assert.include(halfBody.answer, '"code":"request_timeout"', halfBody.answer)
        assert.isBelow(halfBody.closedAfterMs, 5_000)

        const halfHeaders = yield* sendAndWaitForClose(
          server.url,
          `POST /webhooks/anything HTTP/1.1\r\nHost: ${host}\r\n`
        )
        assert.isBelow(halfHeaders.closedAfterMs, 5_000)

        // The server still answers everyone else.
        const health = yield* Effect.promise(() => fetch(`${server.url}/healthz`))
        assert.strictEqual(health.status, 200)
      }),
    { timeout: 60_000 }
  )

  it.live(
    "connections past MAX_CONNECTIONS are closed unanswered; the server answers again once some close",
    () =>
      Effect.gen(function* () {
        const server = yield* startServer({ DATABASE_URL: databaseUrl, MAX_CONNECTIONS: "3" })
        const { hostname, port } = new URL(server.url)
        // Three idle connections take every place.
        const held = yield* Effect.acquireRelease(
          Effect.all(
            Array.from({ length: 3 }, () =>
              Effect.callback<Socket>((resume) => {
                const socket = connect({ host: hostname, port: Number(port) }, () =>
                  resume(Effect.succeed(socket))
                )
                socket.on("error", () => undefined)
              })
            )
          ),
          (sockets) =>
            Effect.sync(() => {
              for (const socket of sockets) socket.destroy()
            })
        )
        const host = new URL(server.url).host
        const refused = yield* sendAndWaitForClose(
          server.url,
          `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`
        )
        assert.strictEqual(refused.answer, "", "no answer beyond the limit")

        for (const socket of held) socket.destroy()
        let status = 0
        for (let tries = 0; status !== 200 && tries < 50; tries++) {
          status = yield* Effect.promise(() =>
            fetch(`${server.url}/healthz`).then(
              (response) => response.status,
              () => 0
            )
          )
          if (status !== 200) yield* Effect.sleep("50 millis")
        }
        assert.strictEqual(status, 200)
      })
  )
})
