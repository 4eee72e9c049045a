import { PgClient } from "@effect/sql-pg"
import { ConversationStream, EventStore, type Ids, Timeline } from "@messaging-api/domain"
import { Effect, Redacted } from "effect"

// Folds one conversation's stream from your own database: node embedding.ts <botpressConversationId>
const program = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  const { state, version } = yield* ConversationStream.load(store, process.argv[2] as Ids.ConversationId)
  console.log(JSON.stringify(Timeline.summarize(state, version), null, 2))
})

const Database = PgClient.layer({
  url: Redacted.make(process.env.DATABASE_URL ?? "postgres://localhost/postgres")
})
program.pipe(Effect.provide(EventStore.EventStore.layer), Effect.provide(Database), Effect.runPromise)
