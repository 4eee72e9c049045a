import { Script } from "node:vm"
import { Effect, Layer, Schedule } from "effect"

/**
 * Lets V8 give the memory of a burst back once the service goes quiet.
 *
 * After a burst (100,000 new conversations, say) the old generation is hundreds of MB of garbage
 * that V8 collects only when it next needs room, so an idle service kept ~1 GB of RSS. V8's memory
 * reducer is there for this: every 8 s it checks whether the process allocates little and, if so,
 * runs a memory-reducing full GC that also returns the freed pages to the system. On Node 24
 * (V8 13.6) that check never passes in a process that allocates nothing on the C++ (cppgc) heap:
 * the embedder allocation rate is then exactly 0, which `Heap::ComputeMutatorUtilization` reads as
 * the worst case, so the reducer answers "high alloc" on every tick and only its 100 s watchdog,
 * reset by every ordinary full GC, can start it (seen here with `--trace-memory-reducer`).
 *
 * Node allocates on that heap for `node:vm` scripts, so compiling an empty one now and then keeps
 * the embedder rate above zero and decaying: the reducer sees the quiet it is looking for and
 * runs, as on Node 22. No GC is forced here; under load the young and old generations' rates keep
 * the reducer waiting as before. Once per 30 s costs a few microseconds.
 */
const touchEmbedderHeap = Effect.sync(() => {
  void new Script("0")
})

export const layer: Layer.Layer<never> = Layer.effectDiscard(
  touchEmbedderHeap.pipe(Effect.repeat(Schedule.spaced("30 seconds")), Effect.forkScoped)
)
