import { Context, Effect, Layer, type Stream } from "effect"
import type { BotFailure, BotReply, BotTurn } from "./BotTurn.ts"
import * as EchoBot from "./EchoBot.ts"
import * as HttpBot from "./HttpBot.ts"
import * as LlmBot from "./LlmBot.ts"

export { type BotFailure, BotReply, type BotTurn } from "./BotTurn.ts"

/**
 * A bot turns one user message into a stream of zero or more bot messages. In-process bots
 * implement this service; the default layer runs the built-ins (`echo`, `http`, `llm`) as each
 * installation's bot config says.
 */

export class Bot extends Context.Service<
  Bot,
  {
    respond(turn: BotTurn): Stream.Stream<BotReply, BotFailure>
  }
>()("@messaging-api/delivery/Bot") {
  /**
   * The built-in bots, chosen per installation. Needs a WebhookClient for the http and llm bots,
   * and the event store for the llm bot's history.
   */
  static readonly layer = Layer.effect(
    Bot,
    Effect.gen(function* () {
      const http = yield* HttpBot.make
      const llm = yield* LlmBot.make
      return Bot.of({
        respond: (turn) => {
          switch (turn.installation.bot._tag) {
            case "echo":
              return EchoBot.respond(turn)
            case "http":
              return http(turn, turn.installation.bot)
            case "llm":
              return llm(turn, turn.installation.bot)
          }
        }
      })
    })
  )

  /** Every installation answered by the echo bot, whatever its config says. */
  static readonly layerEcho = Layer.succeed(Bot, Bot.of({ respond: EchoBot.respond }))
}
