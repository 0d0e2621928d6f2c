import { logger } from '@libp2p/logger'
import { describeStream, registerState, stateKey } from '../metrics/debug-state.js'
import { fallbackStreamKicker, type StreamKicker } from '../network/patches/stream-kick.js'
import { PROXY_HIGH_WATER_MARK } from '../constants.js'
import { TunnelResetError } from '../errors.js'
import { createReadGate } from './read-gate.js'
import type { Connection, Stream } from '@libp2p/interface'
import type { Socket } from 'node:net'
import type { Readable, Writable } from 'node:stream'

const log = logger('peerup:proxy')

/** Byte counters and outcome of one tunnel. */
export interface TunnelStats {
  /** Bytes read from the stream and written to the socket. */
  bytesFromStream: number
  /** Bytes read from the socket and sent on the stream. */
  bytesToStream: number
  /** True when both directions ended with a FIN; false when either side was reset. */
  clean: boolean
  /** Why the tunnel was reset, when it was. */
  error?: Error
}

/** Options of {@link spliceSocketStream}. */
export interface SpliceOptions {
  /**
   * Pause the socket when the stream's write buffer passes this many bytes.
   *
   * @default 1048576
   */
  highWaterMark?: number
  /** Abort the tunnel (both sides reset) when this signal fires. */
  signal?: AbortSignal
  /** Live counters, updated as bytes move (for status/metrics). */
  counters?: { bytesFromStream: number, bytesToStream: number }
  /** The stream's connection, for the lost-wakeup watchdog. */
  connection?: Connection
  /** All of the node's connections, so the watchdog can see below relayed connections. */
  connections?: () => Connection[]
  /**
   * The node's lost-wakeup watchdog (`libp2p.services.streamKicker`).
   *
   * @default a process-wide fallback kicker
   */
  kicker?: StreamKicker
}

/**
 * A stream whose early events have been captured. Create it synchronously
 * at handler entry with {@link holdStream}, before any `await`, so a FIN or
 * reset that arrives while the local service is being dialed is not lost
 * (a `for await` or a late listener misses an early FIN).
 */
export interface HeldStream {
  readonly stream: Stream
  /** The remote closed its write side (FIN). */
  remoteFin: boolean
  /** The stream closed; `closeError` is set for resets/aborts. */
  closed: boolean
  closeError?: Error
  /** Detach the capture listeners. */
  release (): void
}

/**
 * Pause a stream and capture its FIN/close events until
 * {@link spliceSocketStream} takes over.
 */
export function holdStream (stream: Stream): HeldStream {
  const held: HeldStream = {
    stream,
    remoteFin: stream.remoteWriteStatus === 'closed',
    closed: stream.status !== 'open',
    release: () => {
      stream.removeEventListener('remoteCloseWrite', onFin)
      stream.removeEventListener('close', onClose)
    }
  }
  const onFin = (): void => { held.remoteFin = true }
  const onClose = (evt: any): void => {
    held.closed = true
    held.closeError = evt.error
  }
  stream.addEventListener('remoteCloseWrite', onFin)
  stream.addEventListener('close', onClose)
  try {
    if (stream.readStatus === 'readable') stream.pause()
  } catch {}
  return held
}

function toBuffer (data: Uint8Array | { subarray: () => Uint8Array }): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray()
}

/**
 * The local end of a tunnel: a TCP socket (input and output are the socket)
 * or a stdio pair (`peerup nc`).
 */
export interface LocalEnd {
  input: Readable
  output: Writable
  /** Abort abruptly (TCP RST for sockets). */
  reset: () => void
}

/** The local end of a TCP socket, reset with RST. */
export function socketEnd (socket: Socket): LocalEnd {
  return { input: socket, output: socket, reset: () => { if (!socket.destroyed) socket.resetAndDestroy() } }
}

/**
 * Join a TCP socket (or any {@link LocalEnd}) and a libp2p stream in both
 * directions until both have finished, honouring backpressure both ways:
 *
 * - local → stream: the input is paused while the stream's write buffer is
 *   above the high-water mark, and resumed on the stream's `idle` event
 *   (`onDrain()` is unreliable in @libp2p/utils 7.4);
 * - stream → local: the stream is paused while `output.write()` reports a
 *   full buffer and resumed on `drain`; a pause requested while `resume()`
 *   is dispatching is re-applied after it returns (the `resume()` bug).
 *
 * Half-close travels both ways (local EOF → `stream.close()`, remote FIN →
 * `output.end()` after all data). A reset on either side becomes a reset on
 * the other, and a stream that closes without a remote FIN (how a cut relay
 * circuit shows up) becomes a reset, never a clean EOF (a relay kill looks
 * like a clean close; a TCP FIN would pass a truncated stream off as complete).
 *
 * A socket must have been created with `allowHalfOpen: true`.
 */
export async function spliceSocketStream (local: Socket | LocalEnd, input: Stream | HeldStream, options: SpliceOptions = {}): Promise<TunnelStats> {
  const end: LocalEnd = 'reset' in local && 'input' in local ? local : socketEnd(local as Socket)
  const held = 'release' in input ? input : holdStream(input)
  const stream = held.stream
  const src = end.input
  const dst = end.output
  const hwm = options.highWaterMark ?? PROXY_HIGH_WATER_MARK
  const counters = options.counters ?? { bytesFromStream: 0, bytesToStream: 0 }

  return await new Promise<TunnelStats>((resolve) => {
    let remoteFin = held.remoteFin
    let localFinSent = false
    let inputEnded = false
    let outputFinished = false
    let streamClosed = held.closed
    let failed: Error | undefined
    let finished = false
    let inputPausedForStream = false
    const gate = createReadGate(stream)
    const unregister = registerState(stateKey('tunnel'), () => ({
      counters, remoteFin, localFinSent, inputEnded, outputFinished, streamClosed, inputPausedForStream, resuming: gate.resuming, pauseAfterResume: gate.pauseAfterResume,
      input: { paused: src.isPaused(), flowing: (src as any).readableFlowing, ended: src.readableEnded },
      output: { needDrain: dst.writableNeedDrain, buffered: dst.writableLength },
      stream: describeStream(stream)
    }))

    const finish = (): void => {
      if (finished) return
      if (failed == null && !(inputEnded && outputFinished && streamClosed)) return
      finished = true
      cleanup()
      resolve({ bytesFromStream: counters.bytesFromStream, bytesToStream: counters.bytesToStream, clean: failed == null, error: failed })
    }

    const fail = (err: Error): void => {
      if (failed == null) {
        failed = err
        log('tunnel reset: %s', err.message)
      }
      if (stream.status === 'open' || stream.status === 'closing') stream.abort(err)
      end.reset()
      finish()
    }

    // stream -> local
    const onMessage = (evt: any): void => {
      const buf = toBuffer(evt.data)
      counters.bytesFromStream += buf.byteLength
      if (dst.destroyed) return
      if (!dst.write(buf)) gate.pause()
    }
    const onOutputDrain = (): void => { gate.resume() }
    const onRemoteFin = (): void => {
      // A WebRTC stream reports a data channel that closed under it (transport gone, or a
      // reset whose RESET flag was lost) as a remote close-write too; a real FIN arrives while
      // the channel is still open. Treat the former as a cut (reset), never as EOF.
      const channel = (stream as any).channel
      if (channel != null && typeof channel.readyState === 'string' && channel.readyState !== 'open') return
      remoteFin = true
    }
    const onEnd = (): void => {
      // 'end' also fires when the transport dies; only a real FIN ends the output cleanly
      if (remoteFin && !dst.destroyed && !dst.writableEnded) dst.end()
    }
    const onOutputFinish = (): void => {
      outputFinished = true
      finish()
    }
    const onStreamClose = (evt: any): void => {
      streamClosed = true
      if (evt.error != null) {
        fail(new TunnelResetError(`stream reset: ${evt.error.message}`, { cause: evt.error }))
        return
      }
      if (!remoteFin || !localFinSent) {
        fail(new TunnelResetError('stream closed without a clean end (relay or connection cut)'))
        return
      }
      finish()
    }

    // local -> stream
    const onInputData = (chunk: Buffer): void => {
      if (stream.writeStatus !== 'writable') return
      counters.bytesToStream += chunk.byteLength
      try {
        stream.send(chunk)
      } catch (err: any) {
        fail(new TunnelResetError(`send failed: ${err.message}`, { cause: err }))
        return
      }
      if (stream.writeBufferLength > hwm && !inputPausedForStream) {
        inputPausedForStream = true
        src.pause()
      }
    }
    const onStreamIdle = (): void => {
      if (inputPausedForStream) {
        inputPausedForStream = false
        if (!src.destroyed) src.resume()
      }
    }
    const onInputEnd = (): void => {
      inputEnded = true
      localFinSent = true
      stream.close().then(() => { finish() }, (err: Error) => { fail(new TunnelResetError(`close failed: ${err.message}`, { cause: err })) })
    }
    const onError = (err: Error): void => {
      fail(new TunnelResetError(`local error: ${err.message}`, { cause: err }))
    }
    const onInputClose = (): void => {
      // the local side went away without a FIN: reset the stream
      if (!inputEnded && failed == null) fail(new TunnelResetError('local side closed without EOF'))
    }
    const onAbort = (): void => { fail(new TunnelResetError('tunnel aborted')) }

    const stopKick = (options.kicker ?? fallbackStreamKicker()).watch([{ stream, connection: options.connection, connections: options.connections }])
    const cleanup = (): void => {
      unregister()
      stopKick()
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('remoteCloseWrite', onRemoteFin)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onStreamClose)
      stream.removeEventListener('idle', onStreamIdle)
      src.off('data', onInputData)
      src.off('end', onInputEnd)
      src.off('error', onError)
      src.off('close', onInputClose)
      dst.off('drain', onOutputDrain)
      dst.off('finish', onOutputFinish)
      dst.off('error', onError)
      options.signal?.removeEventListener('abort', onAbort)
      // keep no-op error handlers so a late error cannot crash the process
      src.on('error', () => {})
      dst.on('error', () => {})
    }

    stream.addEventListener('remoteCloseWrite', onRemoteFin)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onStreamClose)
    stream.addEventListener('idle', onStreamIdle)
    stream.addEventListener('message', onMessage)
    held.release()
    src.on('data', onInputData)
    src.on('end', onInputEnd)
    src.on('error', onError)
    src.on('close', onInputClose)
    dst.on('drain', onOutputDrain)
    dst.on('finish', onOutputFinish)
    dst.on('error', onError)
    options.signal?.addEventListener('abort', onAbort, { once: true })

    if (held.closed) {
      // closed before we could send anything: never a clean tunnel
      const cause = held.closeError
      fail(new TunnelResetError(`stream closed before the tunnel started${cause != null ? `: ${cause.message}` : ''}`, { cause }))
      return
    }
    if (options.signal?.aborted === true) { onAbort(); return }
    // release a stream paused by holdStream(); buffered data is dispatched now
    if (stream.readStatus === 'paused') onOutputDrain()
    if (stream.readableEnded) onEnd()
    if (src.readableEnded) onInputEnd()
    else if (src.destroyed) onInputClose()
    src.resume()
  })
}
