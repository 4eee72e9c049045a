import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import { onPostgresServer } from "../../../scripts/test-file-database.ts"
import { fileDatabaseUrl } from "./FileDatabase.ts"
import { type Arrival, startReceiver } from "./Receiver.ts"
import { adminToken, freePort, type RunningServer, runCli, startServer } from "./ServerProcess.ts"

/**
 * Several `serve` processes on one Postgres database, each a runner of one cluster
 * (CLUSTER_PORT): any process accepts any message, each conversation is worked by the runner
 * owning its shard. Each test has a database (so a cluster) of its own. Messages are sent
 * round-robin over the processes' HTTP ports, each conversation's messages one after the other;
 * a message that is not acknowledged (a process stopping, a shard moving) is sent again to the
 * next process, as a client would.
 */

const SHARDS = 300

const databases = await Promise.all([fileDatabaseUrl(), fileDatabaseUrl(), fileDatabaseUrl()])

interface Runner extends RunningServer {
  readonly clusterPort: number
}

/** A runner; stopped with SIGTERM (and awaited) when the scope closes, unless it has exited. */
const startRunner = (databaseUrl: string, env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function* () {
    const clusterPort = yield* freePort
    const server = yield* startServer({
      DATABASE_URL: databaseUrl,
      CLUSTER_PORT: String(clusterPort),
      DELIVERY_TIMEOUT: "2 seconds",
      MIN_RETRY_DELAY: "1 millis",
      SHUTDOWN_TIMEOUT: "5 seconds",
      ...env
    })
    yield* Effect.addFinalizer(() =>
      server.child.exitCode === null && server.child.signalCode === null
        ? Effect.sync(() => server.child.kill("SIGTERM")).pipe(
            Effect.andThen(server.exited),
            Effect.timeout("20 seconds"),
            Effect.ignore
          )
        : Effect.void
    )
    return { ...server, clusterPort } satisfies Runner
  })

/** The shards a runner reports in /readyz (0 when it does not answer). */
const shardsOf = (runner: Runner) =>
  Effect.promise(() =>
    fetch(`${runner.url}/readyz`)
      .then((response) => response.json() as Promise<{ cluster?: { runner: string; shards: number } }>)
      .then((body) => body.cluster?.shards ?? 0)
      .catch(() => 0)
  )

const waitFor = <E, R>(check: Effect.Effect<boolean, E, R>, what: string) =>
  Effect.gen(function* () {
    while (!(yield* check)) yield* Effect.sleep("25 millis")
  }).pipe(
    Effect.timeout("90 seconds"),
    Effect.catchTag("TimeoutError", () => Effect.die(new Error(`timed out waiting for ${what}`)))
  )

/** Every shard held by exactly the given runners. */
const allShardsHeldBy = (runners: ReadonlyArray<Runner>) =>
  Effect.forEach(runners, shardsOf, { concurrency: "unbounded" }).pipe(
    Effect.map((counts) => counts.reduce((a, b) => a + b, 0) === SHARDS && counts.every((count) => count > 0))
  )

const post = (url: string, body: unknown) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000)
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  })

const createInstallation = (runner: Runner, responseUrl: string) =>
  Effect.gen(function* () {
    const created = yield* post(`${runner.url}/v1/installations`, {
      bot: { _tag: "echo" },
      responseUrl,
      retrySchedule: "10ms,20ms,50ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms",
      skipVerify: true
    }).pipe(Effect.orDie)
    assert.strictEqual(created.status, 201, JSON.stringify(created.body))
    return new URL(String(created.body.webhookUrl)).pathname
  })

interface Load {
  readonly prefix: string
  readonly conversations: number
  readonly perConversation: number
  /** The processes to send to now (changes while the load runs). */
  readonly targets: () => ReadonlyArray<Runner>
  readonly webhookPath: string
  /** Counts acknowledged messages. */
  readonly acknowledged: { count: number }
}

const textOf = (load: Load, c: number, m: number) => `${load.prefix}-c${c}-m${m}`

/** Sends every message until it is acknowledged (200), round-robin over the targets. */
const sendLoad = (load: Load) =>
  Effect.forEach(
    Array.from({ length: load.conversations }, (_, c) => c),
    (c) =>
      Effect.forEach(
        Array.from({ length: load.perConversation }, (_, m) => m),
        (m) => {
          let attempt = c + m
          const body = {
            userId: `user-${c}`,
            messageId: `${load.prefix}-${c}-${m}`,
            conversationId: `${load.prefix}-conversation-${c}`,
            type: "text",
            text: textOf(load, c, m)
          }
          return Effect.suspend(() => {
            const targets = load.targets()
            const target = targets[attempt++ % targets.length]!
            return post(`${target.url}${load.webhookPath}`, body)
          }).pipe(
            Effect.filterOrFail((answer) => answer.status === 200),
            Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 500 }),
            Effect.orDie,
            Effect.tap(() =>
              Effect.sync(() => {
                load.acknowledged.count++
              })
            )
          )
        },
        { discard: true }
      ),
    { concurrency: 20, discard: true }
  )

interface Reply {
  readonly webhookId: string
  readonly text: string
  readonly conversationId: string
}

/**
 * Every message of the load answered, each conversation's replies in order (an attempt for reply
 * N+1 never before reply N was delivered), duplicates only under the same webhook-id.
 */
const assertAnsweredInOrder = (
  load: Load,
  arrivals: ReadonlyArray<{ webhookId: string; body: string; answer: unknown }>
) => {
  const replies: Array<Reply> = arrivals.map((arrival) => {
    const body = JSON.parse(arrival.body) as { conversationId: string; payload: { text: string } }
    return { webhookId: arrival.webhookId, text: body.payload.text, conversationId: body.conversationId }
  })
  const idByText = new Map<string, string>()
  for (const reply of replies) {
    const known = idByText.get(reply.text)
    assert.isTrue(
      known === undefined || known === reply.webhookId,
      `one webhook-id per reply (${reply.text})`
    )
    idByText.set(reply.text, reply.webhookId)
  }
  const byConversation = new Map<string, Array<number>>()
  for (const reply of replies) {
    const match = /-c(\d+)-m(\d+)$/.exec(reply.text)
    if (match === null || !reply.text.startsWith(`${load.prefix}-`)) continue
    const sequence = byConversation.get(match[1]!) ?? []
    sequence.push(Number(match[2]))
    byConversation.set(match[1]!, sequence)
  }
  assert.strictEqual(byConversation.size, load.conversations, "every conversation answered")
  for (const [c, sequence] of byConversation) {
    for (let i = 1; i < sequence.length; i++) {
      assert.isTrue(sequence[i]! >= sequence[i - 1]!, `conversation ${c} in order: ${sequence.join(",")}`)
    }
    assert.deepStrictEqual(
      [...new Set(sequence)],
      Array.from({ length: load.perConversation }, (_, m) => m),
      `conversation ${c}: every reply`
    )
  }
}

const deliveredCount = (load: Load, arrivals: ReadonlyArray<{ body: string; answer: unknown }>) =>
  new Set(
    arrivals
      .filter((arrival) => arrival.answer === 200)
      .map((arrival) => (JSON.parse(arrival.body) as { payload: { text: string } }).payload.text)
      .filter((text) => text.startsWith(`${load.prefix}-`))
  ).size

const versionConflicts = (runners: ReadonlyArray<Runner>) =>
  runners.reduce((sum, runner) => sum + runner.output().split("version conflict").length - 1, 0)

/** `count` runners on one database, once every shard is held by one of them. */
const startCluster = (databaseUrl: string, count: number, env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function* () {
    const runners = yield* Effect.all(Array.from({ length: count }, () => startRunner(databaseUrl, env)))
    yield* waitFor(allShardsHeldBy(runners), `${count} runners holding all shards`)
    return runners
  })

const newLoad = (
  prefix: string,
  size: Pick<Load, "conversations" | "perConversation">,
  targets: () => ReadonlyArray<Runner>,
  webhookPath: string
): Load => ({ prefix, ...size, targets, webhookPath, acknowledged: { count: 0 } })

/** Sends the load in the background; returns once 100 of its messages are acknowledged. */
const sendUnderWay = (load: Load) =>
  Effect.gen(function* () {
    const sending = yield* Effect.forkChild(sendLoad(load))
    yield* waitFor(
      Effect.sync(() => load.acknowledged.count >= 100),
      "the load under way"
    )
    return sending
  })

/** Waits for a reply to every message of the load, then checks them (`assertAnsweredInOrder`). */
const assertEveryReply = (load: Load, receiver: { readonly arrivals: ReadonlyArray<Arrival> }) =>
  Effect.gen(function* () {
    const total = load.conversations * load.perConversation
    yield* waitFor(
      Effect.sync(() => deliveredCount(load, receiver.arrivals) === total),
      `${total} replies`
    )
    assertAnsweredInOrder(load, receiver.arrivals)
  })

/**
 * Three runners under load; once it is under way the second leaves (`leave`: a kill, a stop). Every
 * acknowledged message is answered, in order, once the leaver's shards have moved to the other two.
 */
const oneRunnerLeavesMidLoad = (options: {
  readonly databaseUrl: string
  readonly prefix: string
  readonly lease: string
  readonly leave: (runner: Runner) => Effect.Effect<void>
}) =>
  Effect.gen(function* () {
    const receiver = yield* startReceiver()
    const runners = yield* startCluster(options.databaseUrl, 3, { CLUSTER_LEASE: options.lease })
    const webhookPath = yield* createInstallation(runners[0]!, receiver.url)
    let live: ReadonlyArray<Runner> = runners
    const load = newLoad(options.prefix, { conversations: 100, perConversation: 4 }, () => live, webhookPath)
    const sending = yield* sendUnderWay(load)
    live = [runners[0]!, runners[2]!]
    yield* options.leave(runners[1]!)
    yield* waitFor(allShardsHeldBy(live), "the leaving runner's shards taken by the others")
    yield* Fiber.join(sending)
    yield* assertEveryReply(load, receiver)
    return runners
  })

/**
 * Runners share a Postgres server: each takes its shards with session advisory locks. The embedded
 * database is one session for every client, so every runner would hold every lock; the service
 * refuses CLUSTER_PORT there, and this file runs only against a Postgres server (as CI does).
 */
describe.skipIf(!onPostgresServer)("several processes (effect/cluster runners on one database)", () => {
  it.live(
    "3 runners, 200 conversations round-robin: every reply, in order, one writer per conversation; a 4th runner joins under load and takes shards",
    () =>
      Effect.gen(function* () {
        const database = databases[0]!
        const receiver = yield* startReceiver()
        const runners = [...(yield* startCluster(database, 3))]
        // The CLI lists the runners and the shards each reports holding.
        yield* waitFor(
          runCli(["cluster", "--json"], { DATABASE_URL: database }).pipe(
            Effect.map((result) => {
              const rows = JSON.parse(result.stdout) as ReadonlyArray<{
                runner: string
                shards: Array<number>
              }>
              const shards = rows.flatMap((row) => row.shards)
              return (
                rows.length === 3 &&
                rows.every((row) =>
                  runners.some((runner) => row.runner === `127.0.0.1:${runner.clusterPort}`)
                ) &&
                new Set(shards).size === SHARDS &&
                shards.length === SHARDS
              )
            })
          ),
          "the CLI listing 3 runners holding every shard once"
        )
        const webhookPath = yield* createInstallation(runners[0]!, receiver.url)

        const spread = newLoad(
          "spread",
          { conversations: 200, perConversation: 3 },
          () => runners,
          webhookPath
        )
        yield* sendLoad(spread)
        yield* assertEveryReply(spread, receiver)
        assert.strictEqual(
          versionConflicts(runners),
          0,
          "no version conflict with one writer per conversation"
        )

        // A fourth runner joins while messages keep coming.
        const joining = newLoad(
          "joining",
          { conversations: 200, perConversation: 4 },
          () => runners,
          webhookPath
        )
        const sending = yield* sendUnderWay(joining)
        const fourth = yield* startRunner(database)
        runners.push(fourth)
        yield* waitFor(allShardsHeldBy(runners), "the shards spread over 4 runners")
        assert.isAbove(yield* shardsOf(fourth), 0, "the new runner holds shards")
        yield* Fiber.join(sending)
        yield* assertEveryReply(joining, receiver)
        console.log(`version conflicts while a runner joined: ${versionConflicts(runners)}`)
      }),
    { timeout: 120_000 }
  )

  it.live(
    "kill -9 one runner mid-load: every acknowledged message is answered, in order, once its shards move",
    () =>
      oneRunnerLeavesMidLoad({
        databaseUrl: databases[1]!,
        prefix: "killed",
        lease: "2 seconds",
        leave: (victim) =>
          Effect.gen(function* () {
            victim.child.kill("SIGKILL")
            yield* victim.exited
          })
      }),
    { timeout: 120_000 }
  )

  it.live(
    "SIGTERM one runner mid-load: nothing lost, its shards handed off without waiting for the lease",
    () =>
      Effect.gen(function* () {
        const runners = yield* oneRunnerLeavesMidLoad({
          databaseUrl: databases[2]!,
          prefix: "stopped",
          // A lease far longer than this test: the shards can only move because they were handed off.
          lease: "10 minutes",
          leave: (leaving) =>
            Effect.gen(function* () {
              leaving.child.kill("SIGTERM")
              assert.strictEqual(yield* leaving.exited, 0, "a clean exit")
            })
        })
        assert.strictEqual(versionConflicts(runners), 0, "no version conflict across the handoff")
      }),
    { timeout: 120_000 }
  )
})
