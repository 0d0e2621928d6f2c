import { logger } from '@libp2p/logger'
import { describeStream, registerState, stateKey } from '../metrics/debug-state.js'
import { fallbackStreamKicker, type StreamKicker } from '../network/patches/stream-kick.js'
import { createReadGate } from './read-gate.js'
import type { Connection, Stream } from '@libp2p/interface'

const log = logger('peerup:relay:splice')

/** Options of {@link spliceStreams}. */
export interface StreamSpliceOptions {
  /**
   * Pause a source while its destination's write buffer holds more than
   * this many bytes.
   *
   * @default 262144
   */
  highWaterMark?: number
  /** Total bytes allowed across both directions; exceeding it resets both. */
  dataLimit?: bigint
  /** Abort both streams when this fires (duration limit, shutdown). */
  signal?: AbortSignal
  /** Live byte counters. */
  counters?: { aToB: number, bToA: number }
  /** The connections of `a` and `b`, for the lost-wakeup watchdog. */
  connections?: [Connection | undefined, Connection | undefined]
  /**
   * The node's lost-wakeup watchdog (`libp2p.services.streamKicker`).
   *
   * @default a process-wide fallback kicker
   */
  kicker?: StreamKicker
}

/** Outcome of a stream splice. */
export interface StreamSpliceResult {
  aToB: number
  bToA: number
  clean: boolean
  error?: Error
}

function toBytes (data: any): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray()
}

/**
 * Join two libp2p streams (the relay's HOP and STOP streams) with real
 * backpressure and bounded buffers. This replaces the stock relay's
 * `pipe(src, dst, src)`, which wraps the HOP stream twice so one wrapper's
 * queue is never read (memory grows with every byte relayed), and which never
 * pauses its source.
 *
 * Each direction: `message` → `dst.send()`; when `dst.writeBufferLength`
 * passes the high-water mark the source is paused (yamux then stops granting
 * window, so the sender stalls at the far end, not in the relay), and resumed
 * on `dst`'s `idle` event, in a microtask: `idle` fires inside `dst`'s send
 * loop, where a `send()` is queued but not flushed. A pause asked for while
 * `resume()` dispatches is re-applied afterwards (the `resume()` bug, see
 * {@link createReadGate}). A FIN travels as a FIN; a reset, or a close without FIN (a
 * dead connection), resets the other side, so no end ever sees a truncated
 * stream as a clean EOF.
 */
export async function spliceStreams (a: Stream, b: Stream, options: StreamSpliceOptions = {}): Promise<StreamSpliceResult> {
  const hwm = options.highWaterMark ?? 256 * 1024
  const counters = options.counters ?? { aToB: 0, bToA: 0 }
  let remaining = options.dataLimit

  return await new Promise<StreamSpliceResult>((resolve) => {
    let failed: Error | undefined
    let finished = false
    const closed = new Set<Stream>()
    const listeners: Array<() => void> = []
    const flags: Record<string, unknown> = {}
    listeners.push((options.kicker ?? fallbackStreamKicker()).watch([{ stream: a, connection: options.connections?.[0] }, { stream: b, connection: options.connections?.[1] }]))
    listeners.push(registerState(stateKey('circuit'), () => ({ counters, flags, a: describeStream(a), b: describeStream(b) })))

    const finish = (): void => {
      if (finished) return
      if (failed == null && closed.size < 2) return
      finished = true
      for (const off of listeners) off()
      options.signal?.removeEventListener('abort', onAbort)
      resolve({ aToB: counters.aToB, bToA: counters.bToA, clean: failed == null, error: failed })
    }
    const fail = (err: Error): void => {
      if (failed == null) { failed = err; log('circuit reset: %s', err.message) }
      for (const s of [a, b]) if (s.status === 'open' || s.status === 'closing') s.abort(err)
      finish()
    }
    const onAbort = (): void => { fail(options.signal?.reason instanceof Error ? options.signal.reason : new Error('circuit aborted')) }

    const wire = (src: Stream, dst: Stream, count: (n: number) => void, name: string): void => {
      const gate = createReadGate(src)
      let pausedForDst = false
      let fin = src.remoteWriteStatus === 'closed'
      const onMessage = (evt: any): void => {
        const buf = toBytes(evt.data)
        count(buf.byteLength)
        if (remaining != null) {
          remaining -= BigInt(buf.byteLength)
          if (remaining < 0n) { fail(new Error('relay data limit exceeded')); return }
        }
        if (dst.writeStatus !== 'writable') return
        try {
          dst.send(buf)
        } catch (err: any) {
          fail(err)
          return
        }
        if (dst.writeBufferLength > hwm && !pausedForDst) {
          pausedForDst = true
          gate.pause()
        }
      }
      let resumeQueued = false
      const resumeSrc = (): void => {
        resumeQueued = false
        if (!pausedForDst || finished) return
        pausedForDst = false
        gate.resume()
      }
      const onIdle = (): void => {
        // `idle` is dispatched from inside dst's send loop, while it still counts as sending:
        // bytes handed to dst.send() right now (what resume() dispatches) would be queued
        // and never flushed, and src paused again behind them (a lost wakeup). Resume after it.
        if (!pausedForDst || resumeQueued) return
        resumeQueued = true
        queueMicrotask(resumeSrc)
      }
      const onFin = (): void => { fin = true }
      const onEnd = (): void => {
        if (fin && dst.writeStatus === 'writable') dst.close().catch((err: Error) => { fail(err) })
      }
      const onClose = (evt: any): void => {
        closed.add(src)
        if (evt.error != null) { fail(evt.error); return }
        if (!fin) { fail(new Error('stream closed without FIN')); return }
        finish()
      }
      Object.defineProperty(flags, name, { enumerable: true, get: () => ({ pausedForDst, fin, resuming: gate.resuming, pauseAfterResume: gate.pauseAfterResume }) })
      src.addEventListener('message', onMessage)
      src.addEventListener('remoteCloseWrite', onFin)
      src.addEventListener('end', onEnd)
      src.addEventListener('close', onClose)
      dst.addEventListener('idle', onIdle)
      listeners.push(() => {
        src.removeEventListener('message', onMessage)
        src.removeEventListener('remoteCloseWrite', onFin)
        src.removeEventListener('end', onEnd)
        src.removeEventListener('close', onClose)
        dst.removeEventListener('idle', onIdle)
      })
      if (src.status !== 'open') { closed.add(src); if (!fin) fail(new Error('stream closed before the circuit started')) }
      gate.resume()
      if (src.readableEnded) onEnd()
    }

    options.signal?.addEventListener('abort', onAbort, { once: true })
    wire(a, b, n => { counters.aToB += n }, 'aToB')
    wire(b, a, n => { counters.bToA += n }, 'bToA')
    if (options.signal?.aborted === true) onAbort()
  })
}
