import { Database, EventStore, Installations } from "@messaging-api/domain"
import { Effect, Layer } from "effect"
import { inject } from "vitest"
import type { Bot } from "../src/Bot.ts"
import * as ConversationsEngine from "../src/Conversations.ts"
import * as DeliverySettings from "../src/DeliverySettings.ts"
import * as Receiver from "./Receiver.ts"

/**
 * The whole engine as a server runs it (actors, bots, deliveries to loopback receivers) with these
 * settings, over the test database, with the event store and the installations exposed to the test.
 * The built-in bots answer, unless `bot` is given.
 */
export const layer = (
  settings: DeliverySettings.DeliverySettingsShape,
  options: { readonly maxConnections: number; readonly bot?: Layer.Layer<Bot> }
) =>
  (options.bot === undefined
    ? ConversationsEngine.layer
    : ConversationsEngine.layerNoBot.pipe(Layer.provide(options.bot))
  ).pipe(
    Layer.provide(Receiver.loopbackGuard),
    Layer.provide(Layer.succeed(DeliverySettings.DeliverySettings, settings)),
    Layer.provideMerge(Layer.mergeAll(EventStore.EventStore.layer, Installations.Installations.layer)),
    Layer.provideMerge(Database.layer({ url: inject("databaseUrl"), maxConnections: options.maxConnections }))
  )

/** An installation answered by the echo bot, delivering to `receiver` with quick retries, worked by this file's engine. */
export const echoInstallation = (installations: Set<string>, receiver: Receiver.Receiver) =>
  Effect.gen(function* () {
    const installation = yield* (yield* Installations.Installations).create({
      bot: { _tag: "echo" },
      responseUrl: receiver.url,
      retrySchedule: [10, 20, 40]
    })
    installations.add(installation.id)
    return installation
  })
