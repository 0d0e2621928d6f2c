/**
 * Runtime shims that js-libp2p 3.x needs on Node 20. Import this module
 * before anything from libp2p (every entrypoint does so on its first line).
 *
 * - `Promise.withResolvers` (Node 22+) is used by it-queue, yamux and
 *   `@libp2p/utils`; without it the first dial throws.
 * - Node 20 has no global `WebSocket`; `@libp2p/websockets` dials with it.
 *   `createNetwork` installs one from `ws` ({@link installWebSocket}) when it
 *   loads the WebSockets transport, so nodes without WebSockets never load
 *   `ws` (and the http/https/tls/zlib modules under it: ~11 MiB of RSS).
 */

interface PromiseWithResolversShape<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const P = Promise as unknown as { withResolvers?: <T>() => PromiseWithResolversShape<T> }
if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T> (): PromiseWithResolversShape<T> {
      let resolve!: PromiseWithResolversShape<T>['resolve']
      let reject!: PromiseWithResolversShape<T>['reject']
      const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}

/** Set the global `WebSocket` from the `ws` package when the runtime has none (Node 20). */
export async function installWebSocket (): Promise<void> {
  const g = globalThis as unknown as { WebSocket?: unknown }
  if (typeof g.WebSocket === 'undefined') {
    const { WebSocket } = await import('ws')
    g.WebSocket ??= WebSocket
  }
}

/** True once the shims are in place. */
export const polyfilled = true
