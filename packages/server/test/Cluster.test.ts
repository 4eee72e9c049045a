import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import { fileDatabaseUrl } from "./FileDatabase.ts"
import { startReceiver } from "./Receiver.ts"
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

/**
 * Runners share a Postgres server: each takes its shards with session advisory locks. The embedded
 * database is one session for every client, so every runner would hold every lock; the service
 * refuses CLUSTER_PORT there, and this file runs only against a Postgres server (as CI does).
 */
const embedded = process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === ""

describe.skipIf(embedded)("several processes (effect/cluster runners on one database)", () => {
  it.live(
    "3 runners, 200 conversations round-robin: every reply, in order, one writer per conversation; a 4th runner joins under load and takes shards",
    () =>
      Effect.gen(function* () {
        const database = databases[0]!
        const receiver = yield* startReceiver()
        const first = yield* startRunner(database)
        const runners = [first, ...(yield* Effect.all([startRunner(database), startRunner(database)]))]
        yield* waitFor(allShardsHeldBy(runners), "3 runners holding all shards")
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
        const webhookPath = yield* createInstallation(first, receiver.url)

        const load: Load = {
          prefix: "spread",
          conversations: 200,
          perConversation: 3,
          targets: () => runners,
          webhookPath,
          acknowledged: { count: 0 }
        }
        yield* sendLoad(load)
        const total = load.conversations * load.perConversation
        yield* waitFor(
          Effect.sync(() => deliveredCount(load, receiver.arrivals) === total),
          `${total} replies`
        )
        assertAnsweredInOrder(load, receiver.arrivals)
        assert.strictEqual(
          versionConflicts(runners),
          0,
          "no version conflict with one writer per conversation"
        )

        // A fourth runner joins while messages keep coming.
        const joining: Load = { ...load, prefix: "joining", perConversation: 4, acknowledged: { count: 0 } }
        const sending = yield* Effect.forkChild(sendLoad(joining))
        yield* waitFor(
          Effect.sync(() => joining.acknowledged.count >= 100),
          "the load under way"
        )
        const fourth = yield* startRunner(database)
        runners.push(fourth)
        yield* waitFor(allShardsHeldBy(runners), "the shards spread over 4 runners")
        assert.isAbove(yield* shardsOf(fourth), 0, "the new runner holds shards")
        yield* Fiber.join(sending)
        const joiningTotal = joining.conversations * joining.perConversation
        yield* waitFor(
          Effect.sync(() => deliveredCount(joining, receiver.arrivals) === joiningTotal),
          `${joiningTotal} replies`
        )
        assertAnsweredInOrder(joining, receiver.arrivals)
        console.log(`version conflicts while a runner joined: ${versionConflicts(runners)}`)
      }),
    { timeout: 120_000 }
  )

  it.live(
    "kill -9 one runner mid-load: every acknowledged message is answered, in order, once its shards move",
    () =>
      Effect.gen(function* () {
        const database = databases[1]!
        const receiver = yield* startReceiver()
        const env = { CLUSTER_LEASE: "2 seconds" }
        const runners = yield* Effect.all([
          startRunner(database, env),
          startRunner(database, env),
          startRunner(database, env)
        ])
        yield* waitFor(allShardsHeldBy(runners), "3 runners holding all shards")
        const webhookPath = yield* createInstallation(runners[0]!, receiver.url)

        let live: ReadonlyArray<Runner> = runners
        const load: Load = {
          prefix: "killed",
          conversations: 100,
          perConversation: 4,
          targets: () => live,
          webhookPath,
          acknowledged: { count: 0 }
        }
        const sending = yield* Effect.forkChild(sendLoad(load))
        yield* waitFor(
          Effect.sync(() => load.acknowledged.count >= 100),
          "the load under way"
        )
        const victim = runners[1]!
        live = [runners[0]!, runners[2]!]
        victim.child.kill("SIGKILL")
        yield* victim.exited
        yield* waitFor(allShardsHeldBy(live), "the dead runner's shards taken by the others")
        yield* Fiber.join(sending)
        const total = load.conversations * load.perConversation
        yield* waitFor(
          Effect.sync(() => deliveredCount(load, receiver.arrivals) === total),
          `${total} replies`
        )
        assertAnsweredInOrder(load, receiver.arrivals)
      }),
    { timeout: 120_000 }
  )

  it.live(
    "SIGTERM one runner mid-load: nothing lost, its shards handed off without waiting for the lease",
    () =>
      Effect.gen(function* () {
        const database = databases[2]!
        const receiver = yield* startReceiver()
        // A lease far longer than this test: the shards can only move because they were handed off.
        const env = { CLUSTER_LEASE: "10 minutes" }
        const runners = yield* Effect.all([
          startRunner(database, env),
          startRunner(database, env),
          startRunner(database, env)
        ])
        yield* waitFor(allShardsHeldBy(runners), "3 runners holding all shards")
        const webhookPath = yield* createInstallation(runners[0]!, receiver.url)

        let live: ReadonlyArray<Runner> = runners
        const load: Load = {
          prefix: "stopped",
          conversations: 100,
          perConversation: 4,
          targets: () => live,
          webhookPath,
          acknowledged: { count: 0 }
        }
        const sending = yield* Effect.forkChild(sendLoad(load))
        yield* waitFor(
          Effect.sync(() => load.acknowledged.count >= 100),
          "the load under way"
        )
        const leaving = runners[1]!
        live = [runners[0]!, runners[2]!]
        leaving.child.kill("SIGTERM")
        assert.strictEqual(yield* leaving.exited, 0, "a clean exit")
        yield* waitFor(allShardsHeldBy(live), "the stopped runner's shards taken by the others")
        yield* Fiber.join(sending)
        const total = load.conversations * load.perConversation
        yield* waitFor(
          Effect.sync(() => deliveredCount(load, receiver.arrivals) === total),
          `${total} replies`
        )
        assertAnsweredInOrder(load, receiver.arrivals)
        assert.strictEqual(versionConflicts(runners), 0, "no version conflict across the handoff")
      }),
    { timeout: 120_000 }
  )
})
