import { Database, EventStore, Installations } from "@messaging-api/domain"
import { Layer } from "effect"
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
