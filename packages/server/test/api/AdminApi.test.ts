import { assert, layer } from "@effect/vitest"
import { Ids, Migrations, RetrySchedule } from "@messaging-api/domain"
import { testMessage } from "@messaging-api/domain/EndpointVerifier"
import { Effect } from "effect"
import { adminToken, client, postJson, Receiver, send, TestLayer } from "./TestServer.ts"

layer(TestLayer, { timeout: 60_000, excludeTestServices: true })(
  "the /v1 admin API and the system routes",
  (it) => {
    it.effect("creates, lists, gets and deletes installations through the typed client", () =>
      Effect.gen(function* () {
        const token = yield* adminToken
        const admin = yield* client(token)
        const receiver = yield* Receiver
        const responseUrl = `${receiver.url}/ok`
        const before = receiver.received.length

        const created = yield* admin.installations.create({
          payload: { bot: { _tag: "echo" }, responseUrl, retrySchedule: [1_000, 5_000, 30_000] }
        })
        // The endpoint was asked first, exactly as the original integration asks it.
        const verification = receiver.received.slice(before).find((request) => request.path === "/ok")
        assert.deepStrictEqual(JSON.parse(verification!.body), testMessage)
        assert.strictEqual(created.responseUrl, responseUrl)
        assert.deepStrictEqual(created.retrySchedule, [1_000, 5_000, 30_000])
        assert.strictEqual(created.webhookUrl, `https://messaging.example/webhooks/${created.webhookId}`)
        assert.match(created.signingSecret, /^whsec_/)

        // On the wire the schedule may also be written as on the command line.
        const written = yield* postJson(
          "/v1/installations",
          { bot: { _tag: "http", url: "http://127.0.0.1:9/bot" }, responseUrl, retrySchedule: "500ms,2s,1m" },
          token
        )
        assert.strictEqual(written.status, 201, written.text)
        assert.deepStrictEqual(written.json.retrySchedule, [500, 2_000, 60_000])
        assert.deepStrictEqual(written.json.bot, { _tag: "http", url: "http://127.0.0.1:9/bot" })
        const defaulted = yield* admin.installations.create({
          payload: { bot: { _tag: "echo" }, responseUrl }
        })
        assert.deepStrictEqual(defaulted.retrySchedule, RetrySchedule.defaultRetrySchedule)

        assert.deepStrictEqual(yield* admin.installations.get({ params: { id: created.id } }), created)
        const all = yield* admin.installations.list()
        assert.isTrue(all.some((installation) => installation.id === created.id))

        // Its webhook works (its lookup is now cached), and stops the moment it is deleted.
        const message = { userId: "u", messageId: "m-1", conversationId: "c-1", type: "text", text: "hi" }
        const webhook = `/webhooks/${created.webhookId}`
        assert.strictEqual((yield* postJson(webhook, message, token)).status, 200)
        yield* admin.installations.delete({ params: { id: created.id } })
        const deleted = yield* postJson(webhook, { ...message, messageId: "m-2" }, token)
        assert.strictEqual(deleted.status, 404, deleted.text)
        assert.strictEqual(deleted.json.error.code, "webhook_not_found")
        const gone = yield* Effect.flip(admin.installations.get({ params: { id: created.id } }))
        assert.strictEqual(gone._tag, "NotFound")
        assert.strictEqual(gone._tag === "NotFound" && gone.error.code, "installation_not_found")
        const goneAgain = yield* Effect.flip(admin.installations.delete({ params: { id: created.id } }))
        assert.strictEqual(goneAgain._tag, "NotFound")
      })
    )

    it.effect(
      "refuses an installation whose response endpoint does not answer 2xx, unless told not to check",
      () =>
        Effect.gen(function* () {
          const admin = yield* client(yield* adminToken)
          const receiver = yield* Receiver
          for (const responseUrl of [`${receiver.url}/fail`, "http://127.0.0.1:9/closed"]) {
            const refused = yield* Effect.flip(
              admin.installations.create({ payload: { bot: { _tag: "echo" }, responseUrl } })
            )
            assert.strictEqual(refused._tag, "InvalidRequest")
            assert.strictEqual(
              refused._tag === "InvalidRequest" && refused.error.code,
              "response_endpoint_unverified"
            )
          }
          // A redirect is not followed: the test message goes nowhere else.
          const before = receiver.received.length
          const redirected = yield* Effect.flip(
            admin.installations.create({
              payload: { bot: { _tag: "echo" }, responseUrl: `${receiver.url}/redirect` }
            })
          )
          assert.strictEqual(
            redirected._tag === "InvalidRequest" && redirected.error.code,
            "response_endpoint_unverified"
          )
          assert.deepStrictEqual(
            receiver.received.slice(before).map((request) => request.path),
            ["/redirect"]
          )
          // Credentials in a URL would be stored and listed as they are: refused.
          const withCredentials = yield* Effect.flip(
            admin.installations.create({
              payload: {
                bot: { _tag: "echo" },
                responseUrl: "http://user:secret@127.0.0.1:9/replies",
                skipVerify: true
              }
            })
          )
          assert.strictEqual(
            withCredentials._tag === "InvalidRequest" && withCredentials.error.code,
            "endpoint_not_allowed"
          )
          const unchecked = yield* admin.installations.create({
            payload: { bot: { _tag: "echo" }, responseUrl: `${receiver.url}/fail`, skipVerify: true }
          })
          assert.strictEqual(unchecked.responseUrl, `${receiver.url}/fail`)
        })
    )

    it.effect("refuses retry schedules and bot time limits out of bounds, creating nothing", () =>
      Effect.gen(function* () {
        const token = yield* adminToken
        const admin = yield* client(token)
        // Other test files share this database: count only the installations this test names.
        const responseUrl = `http://127.0.0.1:9/replies/${crypto.randomUUID()}`
        const ours = admin.installations
          .list()
          .pipe(
            Effect.map((all) => all.filter((installation) => installation.responseUrl === responseUrl).length)
          )
        assert.strictEqual(yield* ours, 0)
        const cases: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
          ["no waits", { retrySchedule: [] }, "retrySchedule"],
          ["21 waits", { retrySchedule: Array.from({ length: 21 }, () => 1_000) }, "retrySchedule"],
          ["a wait under the minimum", { retrySchedule: [1_000, 0] }, "retrySchedule"],
          ["a wait over 24 hours", { retrySchedule: "1s,25h" }, "retrySchedule"],
          [
            "a negative bot time limit",
            { bot: { _tag: "http", url: "http://127.0.0.1:9/bot", timeoutMs: -5 } },
            "bot.timeoutMs"
          ],
          [
            "an hour-long bot time limit",
            { bot: { _tag: "http", url: "http://127.0.0.1:9/bot", timeoutMs: 3_600_000 } },
            "bot.timeoutMs"
          ]
        ]
        for (const [name, overrides, field] of cases) {
          const response = yield* postJson(
            "/v1/installations",
            {
              bot: { _tag: "echo" },
              responseUrl,
              skipVerify: true,
              ...overrides
            },
            token
          )
          assert.strictEqual(response.status, 400, `${name}: ${response.text}`)
          assert.strictEqual(response.json.error.code, "invalid_body", name)
          assert.deepStrictEqual(
            (response.json.error.details as ReadonlyArray<{ field: string }>).map((issue) => issue.field),
            [field],
            name
          )
        }
        // Twenty waits at the bounds are fine.
        const edge = yield* postJson(
          "/v1/installations",
          {
            bot: { _tag: "echo" },
            responseUrl,
            skipVerify: true,
            retrySchedule: [...Array.from({ length: 19 }, () => 1), 24 * 3_600_000]
          },
          token
        )
        assert.strictEqual(edge.status, 201, edge.text)
        assert.strictEqual(yield* ours, 1)
      })
    )

    it.effect("names each bad field of an admin request", () =>
      Effect.gen(function* () {
        const token = yield* adminToken
        const response = yield* postJson(
          "/v1/installations",
          { bot: { _tag: "telepathy" }, responseUrl: "ftp://example.com", retrySchedule: "soon" },
          token
        )
        assert.strictEqual(response.status, 400, response.text)
        assert.strictEqual(response.json.error.code, "invalid_body")
        const fields = (response.json.error.details as ReadonlyArray<{ field: string }>).map(
          (issue) => issue.field
        )
        for (const field of ["bot", "responseUrl", "retrySchedule"]) {
          assert.isTrue(
            fields.some((named) => named.startsWith(field)),
            `${field} in ${response.text}`
          )
        }
      })
    )

    it.effect("creates, lists and revokes tokens; shows a token's secret only once", () =>
      Effect.gen(function* () {
        const admin = yield* client(yield* adminToken)
        const created = yield* admin.tokens.create({ payload: { name: "ci" } })
        assert.match(created.token, /^mapi_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
        assert.isTrue(created.token.startsWith(`mapi_${created.id}_`))
        assert.strictEqual(created.admin, false)
        assert.isNull(created.installationIds)
        assert.isNull(created.revokedAt)

        const listed = (yield* admin.tokens.list()).find((token) => token.id === created.id)!
        assert.strictEqual(listed.name, "ci")
        assert.notInclude(JSON.stringify(listed), created.token.slice(-43))

        const revoked = yield* admin.tokens.revoke({ params: { id: created.id } })
        assert.isNotNull(revoked.revokedAt)
        const missing = yield* Effect.flip(admin.tokens.revoke({ params: { id: "no-such-token" } }))
        assert.strictEqual(missing._tag, "NotFound")
      })
    )

    it.effect("refuses tokens that could not work", () =>
      Effect.gen(function* () {
        const token = yield* adminToken
        const admin = yield* client(token)
        const receiver = yield* Receiver
        const installation = yield* admin.installations.create({
          payload: { bot: { _tag: "echo" }, responseUrl: `${receiver.url}/ok` }
        })
        const restrictedAdmin = yield* Effect.flip(
          admin.tokens.create({ payload: { admin: true, installationIds: [installation.id] } })
        )
        assert.strictEqual(
          restrictedAdmin._tag === "InvalidRequest" && restrictedAdmin.error.code,
          "admin_token_restricted"
        )
        const unknown = yield* Effect.flip(
          admin.tokens.create({ payload: { installationIds: [Ids.newInstallationId()] } })
        )
        assert.strictEqual(unknown._tag === "InvalidRequest" && unknown.error.code, "unknown_installation")
        // An empty list would be a token for nothing; "all installations" is written null.
        const none = yield* postJson("/v1/tokens", { installationIds: [] }, token)
        assert.strictEqual(none.status, 400, none.text)
        assert.strictEqual(none.json.error.details[0].field, "installationIds")
      })
    )

    it.effect("keeps the admin API to admin tokens", () =>
      Effect.gen(function* () {
        const admin = yield* client(yield* adminToken)
        const receiver = yield* Receiver
        const installation = yield* admin.installations.create({
          payload: { bot: { _tag: "echo" }, responseUrl: `${receiver.url}/ok` }
        })
        const unrestricted = yield* admin.tokens.create({ payload: {} })
        const restricted = yield* admin.tokens.create({ payload: { installationIds: [installation.id] } })
        for (const token of [unrestricted.token, restricted.token]) {
          const response = yield* send("GET", "/v1/installations", {
            headers: { authorization: `Bearer ${token}` }
          })
          assert.strictEqual(response.status, 403)
          assert.strictEqual(response.json.error.code, "admin_token_required")
        }
        const anonymous = yield* send("GET", "/v1/tokens")
        assert.strictEqual(anonymous.status, 401)
        assert.strictEqual(anonymous.json.error.code, "missing_token")
      })
    )

    it.effect("serves /healthz, /readyz, /openapi.json and /docs", () =>
      Effect.gen(function* () {
        const anonymous = yield* client()
        assert.deepStrictEqual(yield* anonymous.healthz(), { status: "ok" })
        assert.deepStrictEqual(yield* anonymous.readyz(), {
          status: "ready",
          migration: Migrations.latestMigrationId
        })

        const openapi = yield* send("GET", "/openapi.json")
        assert.strictEqual(openapi.status, 200)
        assert.property(openapi.json.paths, "/webhooks/{webhookId}")
        assert.property(openapi.json.paths["/webhooks/{webhookId}"].post.responses, "409")
        assert.property(openapi.json.paths, "/v1/installations")

        const docs = yield* send("GET", "/docs")
        assert.strictEqual(docs.status, 200)
        assert.match(docs.contentType ?? "", /^text\/html/)
      })
    )

    it.effect("answers unknown routes and wrong methods in the same error shape", () =>
      Effect.gen(function* () {
        const response = yield* send("GET", "/no/such/route")
        assert.strictEqual(response.status, 404)
        assert.strictEqual(response.json.error.code, "not_found")
        // A webhook URL takes POST only: other methods are told so, in the same shape.
        const wrongMethod = yield* send("GET", "/webhooks/anything")
        assert.strictEqual(wrongMethod.status, 405)
        assert.strictEqual(wrongMethod.headers.get("allow"), "POST")
        assert.strictEqual(wrongMethod.json.error.code, "method_not_allowed")
      })
    )
  }
)
