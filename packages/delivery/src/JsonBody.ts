import { Schema } from "effect"

/**
 * A request body as JSON text: the schema's encoding, then `JSON.stringify`. The same text as
 * `Schema.encodeSync(Schema.fromJsonString(schema))`, whose JSON step runs as an effect (a fiber
 * for every body, twice the time); this is a plain call. Deliveries and bot requests send one per
 * message.
 */
export const jsonBody = <T, E>(schema: Schema.Codec<T, E>): ((value: T) => string) => {
  const encode = Schema.encodeSync(schema)
  return (value) => JSON.stringify(encode(value))
}
