import * as EndpointVerifier from "@messaging-api/delivery/EndpointVerifier"
import { EndpointHealth, Installations } from "@messaging-api/domain"
import { HttpSettings, InstallationSetup, InstallationsApi } from "@messaging-api/http"
import { Console, Effect, Layer, Schema } from "effect"
import { Argument, Command } from "effect/cli"
import { DatabaseWithConfig } from "../DatabaseLive.ts"
import { EndpointGuardLive, ServerConfig } from "../ServerConfig.ts"
import { createFlags, installationRequest } from "./InstallationFlags.ts"
import {
  describeCreated,
  describeEndpoint,
  describeInstallation,
  installationTable
} from "./InstallationText.ts"
import { json } from "./JsonFlag.ts"

/**
 * `messaging-api installations create|list|show|resume|delete|rotate-secret`: the admin API's
 * installations, from the shell, each with its response endpoint's health (healthy, failing, paused).
 * Creating one goes through the same `InstallationSetup` as `POST /v1/installations` (the response
 * endpoint must accept the test message first), and webhook URLs are built from PUBLIC_URL.
 */

const InstallationsLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* ServerConfig
    return InstallationSetup.InstallationSetup.layer.pipe(
      Layer.provide(EndpointVerifier.layerWithOwnClient),
      Layer.provideMerge(
        Layer.mergeAll(Installations.Installations.layer, EndpointHealth.EndpointHealth.layer)
      ),
      Layer.provide(
        HttpSettings.layer({
          publicUrl: config.publicUrl,
          minRetryDelay: config.minRetryDelay,
          secretRotationOverlap: config.secretRotationOverlap
        })
      )
    )
  })
).pipe(Layer.provide(EndpointGuardLive), Layer.provideMerge(DatabaseWithConfig))

/** What `create --json` prints: enough for a script to wire up its side, nothing more. */
const CreatedJson = Schema.Struct({
  id: Schema.String,
  webhookUrl: Schema.String,
  signingSecret: Schema.String
})
const encodeCreated = Schema.encodeSync(Schema.fromJsonString(CreatedJson))
/** What `rotate-secret --json` prints: the new secret, and until when the replaced one also signs. */
const RotatedJson = Schema.Struct({
  id: Schema.String,
  signingSecret: Schema.String,
  previousSecretExpiresAt: Schema.optionalKey(Schema.String)
})
const encodeRotated = Schema.encodeSync(Schema.fromJsonString(RotatedJson))
const encodeList = Schema.encodeSync(Schema.fromJsonString(Schema.Array(InstallationsApi.InstallationView)))
const encodeOne = Schema.encodeSync(Schema.fromJsonString(InstallationsApi.InstallationView))

/** The installations as the API shows them, each with its endpoint's health. */
const viewAll = Effect.gen(function* () {
  const installations = yield* Installations.Installations
  const health = yield* EndpointHealth.EndpointHealth
  const setup = yield* InstallationSetup.InstallationSetup
  const all = yield* installations.list
  const endpoints = yield* health.getMany(all.map((installation) => installation.id))
  return all.map((installation) => setup.view(installation, endpoints.get(installation.id)))
})

const viewOne = (id: string) =>
  Effect.gen(function* () {
    const installation = yield* (yield* Installations.Installations).get(id)
    const endpoint = yield* (yield* EndpointHealth.EndpointHealth).get(installation.id)
    return (yield* InstallationSetup.InstallationSetup).view(installation, endpoint)
  })

const idArgument = Argument.String("id").pipe(Argument.withDescription("The installation's id"))

const create = Command.make(
  "create",
  { ...createFlags, json },
  Effect.fn("InstallationsCommand.create")(function* (flags) {
    const request = yield* installationRequest(flags)
    yield* Effect.gen(function* () {
      const setup = yield* InstallationSetup.InstallationSetup
      const created = yield* setup.create(request)
      if (flags.json) return yield* Console.log(encodeCreated(created))
      yield* Console.log(describeCreated(created))
    }).pipe(Effect.provide(InstallationsLive))
  })
).pipe(
  Command.withDescription(
    "Create an installation (its response endpoint must answer the test message with a 2xx)"
  ),
  Command.withExamples([
    {
      command: "messaging-api installations create --bot echo --response-url https://app.example/replies",
      description: "An echo bot replying to your endpoint"
    },
    {
      command:
        "messaging-api installations create --bot http --bot-url https://bot.example/turn --response-url https://app.example/replies --retry-schedule 1s,5s,30s --json",
      description: "Your own bot, a short retry schedule, and JSON for a script"
    },
    {
      command:
        "LLM_API_KEY=… messaging-api installations create --bot llm --bot-url http://127.0.0.1:11434/v1 --model llama3.2 --system 'Answer briefly.' --pull-only",
      description: "An LLM bot on a local Ollama; replies read from the webhook's answer (?wait=5s)"
    }
  ])
)

const list = Command.make("list", { json }, (flags) =>
  Effect.gen(function* () {
    const all = yield* viewAll
    if (flags.json) return yield* Console.log(encodeList(all))
    if (all.length === 0) {
      return yield* Console.log(
        "No installations. Create one with: messaging-api installations create --response-url URL"
      )
    }
    yield* Console.log(installationTable(all))
  }).pipe(Effect.provide(InstallationsLive))
).pipe(Command.withDescription("List the installations (--json includes their signing secrets)"))

const show = Command.make("show", { id: idArgument, json }, (flags) =>
  Effect.gen(function* () {
    const installation = yield* viewOne(flags.id)
    yield* Console.log(flags.json ? encodeOne(installation) : describeInstallation(installation))
  }).pipe(Effect.provide(InstallationsLive))
).pipe(
  Command.withDescription(
    "Show one installation and its response endpoint's health (healthy, failing since …, paused at …)"
  )
)

const resume = Command.make("resume", { id: idArgument, json }, (flags) =>
  Effect.gen(function* () {
    const before = yield* viewOne(flags.id)
    yield* (yield* EndpointHealth.EndpointHealth).resume(before.id)
    const after = yield* viewOne(flags.id)
    if (flags.json) return yield* Console.log(encodeOne(after))
    yield* Console.log(
      before.endpoint.status === "paused"
        ? `Resumed installation ${after.id}: its held deliveries are sent again, in order (by the running server, within about a second)`
        : `Installation ${after.id} was not paused (endpoint ${describeEndpoint(before.endpoint)}); it is healthy now`
    )
  }).pipe(Effect.provide(InstallationsLive))
).pipe(
  Command.withDescription(
    "Resume a paused response endpoint: deliveries held since the pause go out again, in order per conversation"
  )
)

const remove = Command.make("delete", { id: idArgument }, ({ id }) =>
  Effect.gen(function* () {
    const installations = yield* Installations.Installations
    yield* installations.delete(id)
    yield* Console.log(`Deleted installation ${id}`)
  }).pipe(Effect.provide(InstallationsLive))
).pipe(Command.withDescription("Delete an installation (its conversations' history is kept)"))

const rotateSecret = Command.make("rotate-secret", { id: idArgument, json }, (flags) =>
  Effect.gen(function* () {
    const setup = yield* InstallationSetup.InstallationSetup
    const rotated = yield* setup.rotateSecret(flags.id)
    const until = rotated.previousSecretExpiresAt
    if (flags.json) {
      return yield* Console.log(
        encodeRotated({
          id: rotated.id,
          signingSecret: rotated.signingSecret,
          ...(until === undefined ? {} : { previousSecretExpiresAt: until })
        })
      )
    }
    yield* Console.log(
      [
        `Rotated the signing secret of installation ${rotated.id}`,
        `  signing secret  ${rotated.signingSecret}`,
        ...(until === undefined ? [] : [`  the previous secret also signs until ${until}`])
      ].join("\n")
    )
  }).pipe(Effect.provide(InstallationsLive))
).pipe(
  Command.withDescription(
    "Replace the signing secret; the old one keeps signing beside it for SECRET_ROTATION_OVERLAP (24 hours)"
  )
)

export const installationsCommand = Command.make("installations").pipe(
  Command.withDescription(
    "Create, list, show, resume and delete installations, and rotate their signing secrets"
  ),
  Command.withSubcommands([create, list, show, resume, remove, rotateSecret])
)
