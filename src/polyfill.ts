/**
 * Runtime shims that js-libp2p 3.x needs on Node 20. Import this module
 * before anything from libp2p (every entrypoint does so on its first line).
 *
 * - `Promise.withResolvers` (Node 22+) is used by it-queue, yamux and
 *   `@libp2p/utils`; without it the first dial throws.
 * - Node 20 has no global `WebSocket`; `@libp2p/websockets` dials with it.
 */
import { WebSocket as WsWebSocket } from 'ws'

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

const g = globalThis as unknown as { WebSocket?: unknown }
if (typeof g.WebSocket === 'undefined') {
  g.WebSocket = WsWebSocket
}

/** True once the shims are in place. */
export const polyfilled = true
