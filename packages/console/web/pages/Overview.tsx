import { Effect } from "effect"
import { ErrorMessage, PageHeading, useCall, usePolling } from "../components.tsx"

/**
 * The service's figures, from its own endpoints: the newest 200 bot messages' deliveries, the
 * dead letters and the newest 200 conversations (a token sees its installations' only).
 */

const windowMinutes = 5
const liveWindowMs = 5 * 60_000

interface Figures {
  readonly inPerMinute: number
  readonly outPerMinute: number
  readonly successRate: number | null
  readonly pending: number
  readonly deadLettered: string
  readonly liveConversations: number
}

const within = (iso: string | null, sinceMs: number): boolean =>
  iso !== null && new Date(iso).getTime() >= sinceMs

const Figure = ({
  label,
  value,
  help
}: {
  readonly label: string
  readonly value: string
  readonly help: string
}) => (
  <div class="figure">
    <dt>{label}</dt>
    <dd>
      <span class="value">{value}</span>
      <small>{help}</small>
    </dd>
  </div>
)

export const Overview = () => {
  const call = useCall()
  const figures = usePolling(
    "overview",
    () =>
      call((client) =>
        Effect.gen(function* () {
          const since = Date.now() - windowMinutes * 60_000
          const [recent, dead, conversations] = yield* Effect.all(
            [
              client.deliveries.list({ query: { limit: 200 } }),
              client.deliveries.list({ query: { dead: true, limit: 200 } }),
              client.history.listConversations({ query: { limit: 200 } })
            ],
            { concurrency: "unbounded" }
          )
          const active = conversations.items.filter((conversation) =>
            within(conversation.lastActivityAt, Date.now() - liveWindowMs)
          )
          // User messages of the conversations active in the window (the newest ten of them).
          const pages = yield* Effect.forEach(
            active.slice(0, 10),
            (conversation) =>
              client.history.listMessages({
                params: { conversationId: conversation.id },
                query: { limit: 200 }
              }),
            { concurrency: 4 }
          )
          const userMessages = pages
            .flatMap((page) => page.items)
            .filter((message) => message.direction === "user" && within(message.createdAt, since)).length
          const delivered = recent.filter((record) => within(record.deliveredAt, since)).length
          const deadRecently = recent.filter((record) => within(record.deadLetteredAt, since)).length
          return {
            inPerMinute: userMessages / windowMinutes,
            outPerMinute: delivered / windowMinutes,
            successRate: delivered + deadRecently === 0 ? null : delivered / (delivered + deadRecently),
            pending: recent.filter((record) => record.status === "pending").length,
            deadLettered: dead.length >= 200 ? "200+" : String(dead.length),
            liveConversations: active.length
          } satisfies Figures
        })
      ),
    5000
  )
  const data = figures.data
  const format = (value: number) => (Number.isInteger(value) ? String(value) : value.toFixed(1))
  return (
    <section>
      <PageHeading>Overview</PageHeading>
      <ErrorMessage message={figures.error} />
      {data === null ? (
        <p role="status">Loading…</p>
      ) : (
        <dl class="figures">
          <Figure
            label="Messages in"
            value={`${format(data.inPerMinute)}/min`}
            help={`user messages, last ${windowMinutes} minutes`}
          />
          <Figure
            label="Messages out"
            value={`${format(data.outPerMinute)}/min`}
            help={`bot messages delivered, last ${windowMinutes} minutes`}
          />
          <Figure
            label="Delivery success"
            value={data.successRate === null ? "—" : `${Math.round(data.successRate * 100)}%`}
            help="delivered of settled, same window"
          />
          <Figure label="Pending" value={String(data.pending)} help="bot messages not yet delivered" />
          <Figure label="Dead letters" value={data.deadLettered} help="to redeliver on the Deliveries page" />
          <Figure
            label="Live conversations"
            value={String(data.liveConversations)}
            help="active in the last 5 minutes"
          />
        </dl>
      )}
    </section>
  )
}
