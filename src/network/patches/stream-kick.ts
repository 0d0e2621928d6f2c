import { logger } from '@libp2p/logger'
import { STREAM_KICK_INTERVAL } from '../../constants.js'
import type { Connection, Stream } from '@libp2p/interface'

const log = logger('peerup:kick')

/** A stream and the connection it runs on. */
export interface KickTarget {
  stream: Stream
  connection?: Connection
  /** All connections of the node: lets the walk continue below a relayed connection's circuit stream. */
  connections?: () => Connection[]
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

/**
 * Repair lost wakeups in the @libp2p/utils 7.4 message-stream write path.
 * Under load a layer (yamux stream, Noise, the TCP connection) can keep bytes
 * queued while the layer below it is not backpressured, with no event left
 * that would send them, so both ends of a tunnel wait forever (seen on
 * relayed 64 MiB transfers in both directions). Every `intervalMs` the
 * watchdog looks at streams that made no progress since the last tick and,
 * at the first layer that is stuck although the layer below is free:
 *
 * - replays the lost `drain` when the layer still believes it must wait;
 * - re-runs its send queue (an empty `send()`) when it holds bytes without
 *   waiting for anything.
 *
 * A layer whose lower layer (ultimately the socket, or a yamux send window)
 * is really full is left alone, so backpressure and memory bounds hold.
 *
 * One shared timer serves every registered stream, so a thousand idle
 * tunnels cost one interval, not a thousand. A stall costs at most two
 * ticks (see {@link STREAM_KICK_INTERVAL}).
 *
 * Returns a function that unregisters the streams.
 */
export function kickStuckWrites (targets: KickTarget[], intervalMs = STREAM_KICK_INTERVAL): () => void {
  const entry: Watched = { targets, last: new Map() }
  watched.add(entry)
  ensureTimer(intervalMs)
  return () => {
    watched.delete(entry)
    if (watched.size === 0 && timer != null) { clearInterval(timer); timer = undefined }
  }
}

interface Watched {
  targets: KickTarget[]
  /** Write-buffer length per stream at the last tick. */
  last: Map<Stream, number>
}

const watched = new Set<Watched>()
let timer: NodeJS.Timeout | undefined
let timerInterval = 0

function ensureTimer (intervalMs: number): void {
  if (timer != null && timerInterval <= intervalMs) return
  if (timer != null) clearInterval(timer)
  timerInterval = intervalMs
  timer = setInterval(() => { for (const w of watched) tick(w) }, intervalMs)
  timer.unref()
}

function tick (w: Watched): void {
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
