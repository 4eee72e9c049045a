import { Agent, request } from "node:http"
import { performance } from "node:perf_hooks"

/**
 * User messages POSTed to an installation's webhook, as an application sends them. A message's
 * text is `<send time>|<conversation>|<sequence>`: the echo bot returns it, and the receiver
 * times and orders the reply by it.
 * - `sendPaced`: an open-loop sender at a fixed rate; each message carries its scheduled send
 *   time, so a late sender or a slow server shows up in the latency instead of hiding it.
 * - `sendBacklog`: as fast as `concurrency` allows, one message in flight per conversation at a
 *   time (the next is sent once the previous is acknowledged), so each conversation's order is
 *   the order the service accepted.
 */

export interface Target {
  readonly webhookUrl: string
  readonly token: string
}

export interface SendSummary {
  readonly sent: number
  /** Answered 2xx. */
  readonly acknowledged: number
  /** Answered something else, or the request failed (status 0). */
  readonly failed: number
  readonly statuses: Readonly<Record<string, number>>
  readonly durationMs: number
  /** Sequence numbers acknowledged per conversation. */
  readonly acknowledgedSequences: ReadonlyMap<string, ReadonlyArray<number>>
}

/** A paced run also times each acknowledgment: from the message's scheduled send time to its answer. */
export interface PacedSummary extends SendSummary {
  /** Offered but not sent: too many requests were already waiting for an answer. */
  readonly skipped: number
  /** Milliseconds from each answered message's scheduled send time to its answer (2xx or not). */
  readonly answerLatencies: ReadonlyArray<number>
}

/**
 * One JSON POST over a keep-alive agent with extra headers; resolves with the status (0: the
 * request failed). The sender's messages and the contract's floor's deliveries both go through it.
 */
export const postJson = (
  agent: Agent,
  url: URL,
  headers: Readonly<Record<string, string>>,
  body: string
): Promise<number> =>
  new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) }
      },
      (response) => {
        response.resume()
        response.on("end", () => resolve(response.statusCode ?? 0))
        response.on("error", () => resolve(0))
      }
    )
    req.on("error", () => resolve(0))
    req.end(body)
  })

const post = (agent: Agent, url: URL, token: string, body: string): Promise<number> =>
  postJson(agent, url, { authorization: `Bearer ${token}` }, body)

const bodyOf = (run: string, conversation: string, sequence: number, sentAt: number) =>
  JSON.stringify({
    userId: `${conversation}-user`,
    messageId: `${run}-${conversation}-${sequence}`,
    conversationId: conversation,
    type: "text",
    text: `${sentAt.toFixed(3)}|${conversation}|${sequence}`
  })

const conversationName = (run: string, index: number) => `${run}-c${index}`

const tally = () => {
  const statuses: Record<string, number> = {}
  const acknowledgedSequences = new Map<string, Array<number>>()
  let acknowledged = 0
  let failed = 0
  return {
    record: (status: number, conversation: string, sequence: number) => {
      statuses[status] = (statuses[status] ?? 0) + 1
      if (status >= 200 && status < 300) {
        acknowledged++
        const list = acknowledgedSequences.get(conversation)
        if (list === undefined) acknowledgedSequences.set(conversation, [sequence])
        else list.push(sequence)
      } else {
        failed++
      }
    },
    summary: (sent: number, durationMs: number): SendSummary => ({
      sent,
      acknowledged,
      failed,
      statuses,
      durationMs,
      acknowledgedSequences
    })
  }
}

export const sendPaced = async (
  target: Target,
  options: {
    readonly run: string
    readonly rate: number
    readonly durationMs: number
    readonly conversations: number
    /**
     * Whose conversations to send to (default: the run's own, `<run>-c<index>`): another run's name
     * sends to that run's conversations again, live ones rather than new. Message ids stay the run's.
     */
    readonly conversationsOf?: string
    readonly connections?: number
    /**
     * Past this many unanswered requests the sender stops offering more (counted as `skipped`):
     * an overloaded server would otherwise leave the run waiting for a queue it cannot drain.
     */
    readonly maxOutstanding?: number
    /** How long to wait for answers after the last send before giving up on them (counted failed). */
    readonly answerTimeoutMs?: number
  }
): Promise<PacedSummary> => {
  const url = new URL(target.webhookUrl)
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections ?? 256 })
  const total = Math.round((options.rate * options.durationMs) / 1000)
  const interval = 1000 / options.rate
  const maxOutstanding = options.maxOutstanding ?? Math.max(500, options.rate * 2)
  const results = tally()
  let offered = 0
  let sent = 0
  let skipped = 0
  let answered = 0
  const answerLatencies: Array<number> = []
  const start = performance.now() + 5
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1)
      while (offered < due) {
        const n = offered++
        if (sent - answered >= maxOutstanding) {
          skipped++
          continue
        }
        sent++
        const conversation = conversationName(
          options.conversationsOf ?? options.run,
          n % options.conversations
        )
        const sequence = Math.floor(n / options.conversations)
        const scheduledAt = start + n * interval
        void post(agent, url, target.token, bodyOf(options.run, conversation, sequence, scheduledAt)).then(
          (status) => {
            answerLatencies.push(performance.now() - scheduledAt)
            results.record(status, conversation, sequence)
            answered++
          }
        )
      }
      if (offered < total) setTimeout(tick, 1)
      else resolve()
    }
    setTimeout(tick, 5)
  })
  const deadline = performance.now() + (options.answerTimeoutMs ?? 10_000)
  while (answered < sent && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 10))
  const unanswered = sent - answered
  agent.destroy()
  const summary = results.summary(sent, performance.now() - start)
  return { ...summary, failed: summary.failed + unanswered, skipped, answerLatencies }
}

export const sendBacklog = async (
  target: Target,
  options: {
    readonly run: string
    readonly conversations: number
    readonly perConversation: number
    readonly concurrency: number
    /** Stop sending new messages after this long (what was sent is still answered). */
    readonly budgetMs?: number
  }
): Promise<SendSummary> => {
  const url = new URL(target.webhookUrl)
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency })
  const results = tally()
  const queue: Array<{ conversation: string; sequence: number }> = []
  for (let index = 0; index < options.conversations; index++) {
    queue.push({ conversation: conversationName(options.run, index), sequence: 0 })
  }
  let sent = 0
  const start = performance.now()
  const deadline = start + (options.budgetMs ?? Number.POSITIVE_INFINITY)
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined && performance.now() < deadline; next = queue.shift()) {
      const { conversation, sequence } = next
      const body = bodyOf(options.run, conversation, sequence, performance.now())
      let status = 0
      // A refused or failed request is sent again, same body (idempotent), a few times.
      for (let attempt = 0; attempt < 5 && !(status >= 200 && status < 300); attempt++) {
        sent++
        status = await post(agent, url, target.token, body)
      }
      results.record(status, conversation, sequence)
      if (sequence + 1 < options.perConversation) queue.push({ conversation, sequence: sequence + 1 })
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  agent.destroy()
  return results.summary(sent, performance.now() - start)
}
