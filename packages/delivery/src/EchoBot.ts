import { Stream } from "effect"
import type { BotReply, BotTurn } from "./BotTurn.ts"

/** Replies with what it was sent: text with the same text, anything else with its type and payload. */
export const respond = (turn: BotTurn): Stream.Stream<BotReply> =>
  Stream.make(
    turn.message.type === "text"
      ? { type: "text", payload: { text: turn.message.text } }
      : { type: turn.message.type, payload: turn.message.payload }
  )
