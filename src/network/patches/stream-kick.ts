/**
 * The lost-wakeup kicker: a per-node watchdog that repairs stalled write
 * paths in the @libp2p/utils 7.4 message-stream layers (see
 * {@link createStreamKicker}). It reads internals (`connection.muxer.maConn`,
 * a layer's `stream`/`socket`, yamux's `sendWindowCapacity`); README.md in
 * this folder lists them with the pinned versions.
 */
import { logger } from '@libp2p/logger'
import { STREAM_KICK_INTERVAL } from '../../constants.js'
import { reportMissingInternal } from './report.js'
import type { Connection, Logger, Stream } from '@libp2p/interface'

/** A stream and the connection it runs on. */
export interface KickTarget {
  stream: Stream
  connection?: Connection
  /** All connections of the node: lets the walk continue below a relayed connection's circuit stream. */
  connections?: () => Connection[]
}

/** Init of {@link createStreamKicker}. */
export interface StreamKickerInit {
  /**
   * How often streams that made no progress are checked (ms). A stall costs
   * at most two ticks.
   *
   * @default STREAM_KICK_INTERVAL (50)
   */
  intervalMs?: number
  /**
   * Where kicks and broken-internal errors are logged.
   *
   * @default logger('peerup:kick')
   */
  log?: Logger
}

/** A node's lost-wakeup watchdog: one timer for every stream it watches. */
export interface StreamKicker {
  /** Watch these streams until the returned function is called. */
  watch: (targets: KickTarget[]) => () => void
  /** Stop watching everything and clear the timer (the node stops); a later `watch()` starts it again. */
  stop: () => void
  /** Groups of streams being watched now. */
  readonly watching: number
  /** Whether the timer runs now (it runs only while something is watched). */
  readonly running: boolean
  /** Its interval (ms). */
  readonly intervalMs: number
}

/** Is this layer legitimately unable to take more bytes right now? */
function blocked (layer: any): boolean {
  if (typeof layer?.writableNeedDrain === 'boolean' && typeof layer?.write === 'function') return layer.writableNeedDrain // net.Socket
  if (layer?.sendWindowCapacity === 0) return true // yamux: waiting for the peer's window update
  return layer?.writableNeedsDrain === true
}

/** The write path of a stream: the stream, then each layer below it down to the socket. */
function chainOf (t: KickTarget): any[] {
  const chain: any[] = [t.stream]
  let layer: any = (t.connection as any)?.muxer?.maConn
  for (let i = 0; i < 12 && layer != null; i++) {
    chain.push(layer)
    let next = layer.stream ?? layer.socket
    if (next == null && t.connections != null && typeof layer.sendWindowCapacity === 'number') {
      // a muxed stream carrying a relayed connection: continue on its own connection
      const conn = t.connections().find(c => c.streams.includes(layer))
      next = (conn as any)?.muxer?.maConn
    }
    layer = next
  }
  return chain
}

/** A yamux connection whose muxer does not expose `maConn` (the layer below) any more: the kicker cannot walk it. */
function missingInternal (t: KickTarget): string | undefined {
  const c: any = t.connection
  if (c == null || c.muxer == null || c.multiplexer !== '/yamux/1.0.0') return undefined
  if (c.muxer.maConn == null) return 'connection.muxer.maConn (the layer below yamux)'
  return undefined
}

interface Watched {
  targets: KickTarget[]
  /** Write-buffer length per stream at the last tick. */
  last: Map<Stream, number>
}

/**
 * Repair lost wakeups in the @libp2p/utils 7.4 message-stream write path.
 * Under load a layer (yamux stream, Noise, the TCP connection) can keep bytes
 * queued while the layer below it is not backpressured, with no event left
 * that would send them, so both ends of a tunnel wait forever (seen on
 * relayed 64 MiB transfers in both directions). Every `intervalMs` the
 * kicker looks at streams that made no progress since the last tick and,
 * at the first layer that is stuck although the layer below is free:
 *
 * - replays the lost `drain` when the layer still believes it must wait;
 * - re-runs its send queue (an empty `send()`) when it holds bytes without
 *   waiting for anything.
 *
 * A layer whose lower layer (ultimately the socket, or a yamux send window)
 * is really full is left alone, so backpressure and memory bounds hold.
 *
 * One timer per kicker serves every watched stream, so a thousand idle
 * tunnels cost one interval, not a thousand. Each node owns one
 * (`libp2p.services.streamKicker`, stopped with the node); kickers do not
 * share state, and an interval is fixed at creation.
 */
export function createStreamKicker (init: StreamKickerInit = {}): StreamKicker {
  const intervalMs = init.intervalMs ?? STREAM_KICK_INTERVAL
  const log = init.log ?? logger('peerup:kick')
  const watched = new Set<Watched>()
  let timer: NodeJS.Timeout | undefined
  let warned = false

  const tick = (w: Watched): void => {
    for (const t of w.targets) {
      const s = t.stream
      const buffered = s.writeBufferLength
      if (s.status !== 'open' || buffered === 0) { w.last.delete(s); continue }
      const progressed = w.last.get(s) !== buffered
      w.last.set(s, buffered)
      if (progressed) continue
      const chain = chainOf(t)
      for (let i = 0; i < chain.length; i++) {
        const layer = chain[i]
        if (typeof layer?.dispatchEvent !== 'function') break // reached the socket
        const below = chain[i + 1]
        const belowBlocked = below != null && blocked(below)
        if (layer.sendWindowCapacity === 0) break // legit: the remote has not granted window
        if (layer.writableNeedsDrain === true && !belowBlocked) {
          log('layer %d of stream %s waits for a drain that will not come: replaying it', i, s.id)
          layer.dispatchEvent(new Event('drain'))
          break
        }
        if (layer.writableNeedsDrain !== true && (layer.writeBufferLength ?? 0) > 0 && !belowBlocked) {
          log('layer %d of stream %s holds %d bytes with nothing to wait for: re-running its send queue', i, s.id, layer.writeBufferLength)
          try { layer.send(new Uint8Array(0)) } catch {}
          break
        }
        if (!belowBlocked) break
      }
    }
  }
  const clear = (): void => {
    if (timer != null) clearInterval(timer)
    timer = undefined
  }

  return {
    watch (targets) {
      if (!warned) {
        const missing = targets.map(missingInternal).find(m => m != null)
        if (missing != null) {
          warned = true
          reportMissingInternal(log, 'lost-wakeup kicker', missing, 'stalled tunnel writes are not repaired')
        }
      }
      const entry: Watched = { targets, last: new Map() }
      watched.add(entry)
      if (timer == null) {
        timer = setInterval(() => { for (const w of watched) tick(w) }, intervalMs)
        timer.unref()
      }
      return () => {
        watched.delete(entry)
        if (watched.size === 0) clear()
      }
    },
    stop () {
      watched.clear()
      clear()
    },
    get watching () { return watched.size },
    get running () { return timer != null },
    intervalMs
  }
}

/** Components of the {@link streamKicker} service. */
export interface StreamKickerComponents {
  logger: { forComponent: (name: string) => Logger }
}

/** The kicker as a libp2p service: created with the node, stopped with it. */
export interface StreamKickerService extends StreamKicker {
  start: () => void
  stop: () => void
}

/**
 * A libp2p service holding the node's {@link StreamKicker}
 * (`services.streamKicker`); its `stop()` runs when the node stops.
 */
export function streamKicker (init: Omit<StreamKickerInit, 'log'> = {}): (components: StreamKickerComponents) => StreamKickerService {
  return (components) => {
    const kicker = createStreamKicker({ ...init, log: components.logger.forComponent('peerup:kick') })
    return Object.assign(kicker, { start () {} }) as StreamKickerService
  }
}

let fallback: StreamKicker | undefined

/**
 * The kicker for a splice that was given none (a splice outside a node, as
 * in tests and tools). Nodes pass their own (`libp2p.services.streamKicker`).
 * Its interval is fixed, and its timer runs only while it watches streams.
 */
export function fallbackStreamKicker (): StreamKicker {
  fallback ??= createStreamKicker()
  return fallback
}
