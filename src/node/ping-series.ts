import { PING_INTERVAL } from '../constants.js'
import type { PathInfo } from '../paths/dialer.js'
import type { PeerupNode, TunnelOptions } from './node.js'

/** Options of {@link pingSeries}. */
export interface PingSeriesOptions extends TunnelOptions {
  /**
   * Most pings to send.
   *
   * @default 3
   */
  count?: number
  /**
   * Stop at the first reply that came over a direct connection (as
   * `tailscale ping` does): the first pings usually go through the relay
   * while the node looks for a direct path in the background.
   *
   * @default false
   */
  untilDirect?: boolean
  /**
   * Pause between two pings (ms).
   *
   * @default 200
   */
  interval?: number
}

/** One ping reply of {@link pingSeries}. */
export interface PingReply {
  /** 1-based sequence number. */
  seq: number
  /** Round-trip time (ms). */
  rtt: number
  /** Path this reply took. */
  path: PathInfo
  peerId: string
}

/**
 * Ping `target` up to `count` times, yielding each reply with the path it
 * took; with `untilDirect`, stop at the first direct reply. A failed ping
 * rejects (the caller decides whether that is fatal).
 */
export async function * pingSeries (node: Pick<PeerupNode, 'ping'>, target: string, options: PingSeriesOptions = {}): AsyncGenerator<PingReply> {
  const count = options.count ?? 3
  const interval = options.interval ?? PING_INTERVAL
  for (let seq = 1; seq <= count; seq++) {
    options.signal?.throwIfAborted()
    const r = await node.ping(target, options)
    yield { seq, rtt: r.rtt, path: r.path, peerId: r.peerId }
    if (options.untilDirect === true && r.path.path === 'direct') return
    if (seq < count) await new Promise(resolve => setTimeout(resolve, interval))
  }
}
