import { Context, Effect, Layer, type Scope } from "effect"

/**
 * effect/cluster copies the context its `Sharding` was built in, merged with the context an entity
 * is registered in, into every live entity, twice (the entity's handler context, and that merged
 * with its handlers: flat maps of every service). So each service in scope there costs each live
 * conversation memory (about 1 KB per 16 services, as maps grow by doubling). The cluster and the
 * conversation entity are therefore built in a context of effect's own services and references
 * only (cluster, SQL client, logging, tracing, clock), without the application's services, which
 * they do not read at run time (the actor's handlers take theirs when they are built), nor the
 * platform's.
 */

const platformOnly = new Set([
  "effect/FileSystem",
  "effect/Path",
  "~effect/Stdio",
  "effect/Terminal",
  "effect/process/ChildProcessSpawner"
])

const isEffects = (key: string) =>
  (key.startsWith("effect/") || key.startsWith("~effect/")) && !platformOnly.has(key)

/** `context` without the application's and the platform's services. */
export const effectOnly = <R>(context: Context.Context<R>): Context.Context<R> =>
  Context.makeUnsafe(new Map([...context.mapUnsafe].filter(([key]) => isEffects(key))))

/** `layer`, built in `effectOnly` of the context it is built in. */
export const build = <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.effectContext(
    Effect.updateContext(Layer.build(layer), (context: Context.Context<R | Scope.Scope>) =>
      effectOnly(context)
    )
  )
