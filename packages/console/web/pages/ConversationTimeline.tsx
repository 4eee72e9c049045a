import { useEffect, useState } from "preact/hooks"
import { start } from "../Api.ts"
import { ErrorMessage, failureText, formatTime, PageHeading, Status, useCall } from "../components.tsx"
import { follow, type LiveState } from "../LiveEvents.ts"
import { useSession } from "../Session.ts"
import * as Timeline from "../Timeline.ts"

/** One conversation as it happens: its events, folded into a timeline, live. */

const liveWords = (state: LiveState): string => {
  switch (state._tag) {
    case "connecting":
      return "Connecting…"
    case "live":
      return "Live"
    case "reconnecting":
      return `Reconnecting (${state.reason})…`
    case "stopped":
      return `Stopped: ${state.reason}`
  }
}

const payloadText = (payload: unknown): string => {
  if (
    typeof payload === "object" &&
    payload !== null &&
    "text" in payload &&
    typeof payload.text === "string"
  ) {
    return payload.text
  }
  return JSON.stringify(payload)
}

const BotMessage = ({
  entry,
  onRedeliver
}: {
  readonly entry: Timeline.BotEntry
  readonly onRedeliver: (messageId: string) => void
}) => (
  <li class="entry bot">
    <p class="meta">
      Bot · {entry.type} · {formatTime(entry.at)} · <Status value={entry.status} />
    </p>
    <p class="text">{payloadText(entry.payload)}</p>
    {entry.attempts.length > 0 ? (
      <ol class="attempts" aria-label="Delivery attempts">
        {entry.attempts.map((attempt) => (
          <li key={`${attempt.attempt}-${attempt.at}`}>
            Attempt {attempt.attempt}: {attempt.outcome.replace("_", " ")}
            {attempt.outcome === "delivered" && attempt.status !== null ? ` (HTTP ${attempt.status})` : ""}
            {attempt.outcome === "delivered" ? "" : ` — ${failureText(attempt.error, attempt.status)}`} ·{" "}
            {formatTime(attempt.at)}
            {attempt.nextAttemptAt === null ? "" : ` · next try ${formatTime(attempt.nextAttemptAt)}`}
          </li>
        ))}
      </ol>
    ) : null}
    {entry.status === "dead_lettered" ? (
      <button type="button" onClick={() => onRedeliver(entry.messageId)}>
        Redeliver
      </button>
    ) : null}
  </li>
)

const entryKey = (entry: Timeline.Entry): string => (entry.kind === "note" ? entry.key : entry.messageId)

const EntryView = ({
  entry,
  onRedeliver
}: {
  readonly entry: Timeline.Entry
  readonly onRedeliver: (messageId: string) => void
}) => {
  switch (entry.kind) {
    case "user":
      return (
        <li class="entry user">
          <p class="meta">
            {entry.externalUserId} · {entry.type} · {formatTime(entry.at)}
          </p>
          <p class="text">{entry.text}</p>
        </li>
      )
    case "bot":
      return <BotMessage entry={entry} onRedeliver={onRedeliver} />
    case "note":
      return (
        <li class="entry note">
          {entry.text} · {formatTime(entry.at)}
        </li>
      )
  }
}

export const ConversationTimeline = ({ conversationId }: { readonly conversationId: string }) => {
  const session = useSession()
  const call = useCall()
  const [timeline, setTimeline] = useState(Timeline.empty)
  const [live, setLive] = useState<LiveState>({ _tag: "connecting" })
  const [redeliverError, setRedeliverError] = useState<string | null>(null)

  useEffect(() => {
    setTimeline(Timeline.empty)
    return start(
      follow({
        token: session.token,
        conversationId,
        after: 0,
        onEvent: (event) => setTimeline((current) => Timeline.apply(current, event)),
        onState: setLive
      })
    )
  }, [session.token, conversationId])

  const redeliver = async (messageId: string) => {
    setRedeliverError(null)
    const reply = await call((client) =>
      client.deliveries.redeliver({ params: { botpressMessageId: messageId } })
    )
    if (!reply.ok) setRedeliverError(reply.message)
  }

  return (
    <section>
      <PageHeading>Conversation {timeline.externalConversationId ?? ""}</PageHeading>
      <p class="meta">
        <code>{conversationId}</code> ·{" "}
        <span class={`live live-${live._tag}`} role="status">
          {liveWords(live)}
        </span>
      </p>
      <ErrorMessage message={redeliverError} />
      <ol class="timeline" aria-label="Timeline" aria-live="polite">
        {timeline.entries.map((entry) => (
          <EntryView key={entryKey(entry)} entry={entry} onRedeliver={(id) => void redeliver(id)} />
        ))}
      </ol>
    </section>
  )
}
