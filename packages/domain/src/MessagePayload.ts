import { Effect, Schema } from "effect"

/**
 * Botpress's message payloads (the shapes of `@botpress/sdk`'s default message types). A payload
 * of one of these types must match its shape; extra fields are allowed and kept as sent. Any
 * other type passes through unchecked.
 */

const NonEmpty = Schema.NonEmptyString

export const Text = Schema.Struct({ text: NonEmpty })
export const Markdown = Schema.Struct({ markdown: NonEmpty })
export const Image = Schema.Struct({ imageUrl: NonEmpty })
export const Audio = Schema.Struct({ audioUrl: NonEmpty })
export const Video = Schema.Struct({ videoUrl: NonEmpty })
export const File = Schema.Struct({ fileUrl: NonEmpty, title: Schema.optionalKey(NonEmpty) })
export const Location = Schema.Struct({
  latitude: Schema.Finite,
  longitude: Schema.Finite,
  address: Schema.optionalKey(Schema.String),
  title: Schema.optionalKey(Schema.String)
})
export const Card = Schema.Struct({
  title: NonEmpty,
  subtitle: Schema.optionalKey(NonEmpty),
  imageUrl: Schema.optionalKey(NonEmpty),
  actions: Schema.Array(
    Schema.Struct({
      action: Schema.Literals(["postback", "url", "say"]),
      label: NonEmpty,
      value: NonEmpty
    })
  )
})
export const Carousel = Schema.Struct({ items: Schema.Array(Card) })
export const Choice = Schema.Struct({
  text: NonEmpty,
  options: Schema.Array(Schema.Struct({ label: NonEmpty, value: NonEmpty }))
})

const payloadSchemas = {
  text: Text,
  markdown: Markdown,
  image: Image,
  audio: Audio,
  video: Video,
  file: File,
  location: Location,
  card: Card,
  carousel: Carousel,
  choice: Choice,
  dropdown: Choice
} as const

type KnownType = keyof typeof payloadSchemas

const isKnownType = (type: string): type is KnownType => Object.hasOwn(payloadSchemas, type)

export class InvalidMessagePayload extends Schema.TaggedError<InvalidMessagePayload>()(
  "InvalidMessagePayload",
  {
    type: Schema.String,
    message: Schema.String
  }
) {}

/** Checks a payload against its type's shape; unknown types pass. */
export const validate = (type: string, payload: unknown): Effect.Effect<void, InvalidMessagePayload> => {
  if (!isKnownType(type)) return Effect.void
  return Schema.decodeUnknownEffect(payloadSchemas[type])(payload).pipe(
    Effect.asVoid,
    Effect.mapError((error) => new InvalidMessagePayload({ type, message: error.message }))
  )
}
