/**
 * Per-byte cost of the js-libp2p wire path (TCP → Noise → yamux), cut where
 * the stock modules spend CPU on bookkeeping rather than on bytes. Each fix
 * keeps the wire format and the flow-control semantics; a relayed tunnel
 * crosses these layers twice on each of its three processes, so it gains the
 * most (docs/PERFORMANCE.md, bench/relay-ab.ts).
 *
 * - {@link yamuxFlowControl}: yamux streams start at the spec's 256 KiB
 *   window, grant a bigger one at open, and grant receive window in
 *   half-window steps instead of after every frame.
 * - {@link corkedTcp}: one `writev` per batch of Noise messages instead of a
 *   `write` per buffer (length prefix, ciphertext pieces, tag).
 * - {@link cheapNoiseLengthDecoder}: no stack trace per TCP read.
 *
 * None of them assumes the remote is peerup: the remote sees standard yamux
 * and Noise (test/interop/ runs stock js-libp2p peers against peerup).
 * They reach into internals of @chainsafe/libp2p-yamux 8,
 * @chainsafe/libp2p-noise 17 and @libp2p/tcp 11 (the versions pinned in
 * package.json); `test/unit/transport-tuning.test.ts` checks the behaviour
 * they rely on. When an internal they expect is missing they log an error
 * once and leave the stock behaviour in place, which is slower but correct.
 */
import { logger } from '@libp2p/logger'
import { tcp, type TCPOptions } from '@libp2p/tcp'
import { StreamState } from '@chainsafe/libp2p-yamux/stream'
import { YAMUX_INITIAL_WINDOW, YAMUX_MAX_FRAME_PAYLOAD, YAMUX_SPEC_WINDOW, YAMUX_WINDOW_UPDATE_FRACTION } from '../../constants.js'
import { reportMissingInternal } from './report.js'
import type { Logger } from '@libp2p/interface'

/** yamux frame header (bytes); stock yamux 8 counts it against the send window when sizing frames. */
const YAMUX_HEADER_LENGTH = 12

const log = logger('peerup:tuning')
const reported = new Set<string>()

/** Report once per process that an upstream internal is missing, and what that costs. */
function missingInternals (what: string, consequence: string): void {
  if (reported.has(what)) return
  reported.add(what)
  const text = `transport tuning: ${what} not found (upstream internals changed?); ${consequence}`
  log.error(text)
  process.emitWarning(text, { code: 'PEERUP_TRANSPORT_TUNING' })
}

/** Options of {@link yamuxFlowControl}. */
export interface YamuxFlowControlInit {
  /**
   * Receive window granted to the remote at stream open (bytes), on top of
   * the spec's 256 KiB; capped by the factory's `maxStreamWindowSize`.
   *
   * @default YAMUX_INITIAL_WINDOW (4 MiB)
   */
  initialWindow?: number
  /**
   * Send a WINDOW_UPDATE once the remote's remaining credit has fallen by
   * this fraction of the receive window.
   *
   * @default YAMUX_WINDOW_UPDATE_FRACTION (0.5)
   */
  updateFraction?: number
  /**
   * Largest DATA frame payload sent (bytes).
   *
   * @default YAMUX_MAX_FRAME_PAYLOAD (256 KiB)
   */
  maxFramePayload?: number
}

/** The fields of a @chainsafe/libp2p-yamux 8 `YamuxStream` that this wrapper uses. */
function isYamux8Stream (stream: any): boolean {
  return typeof stream?.recvWindow === 'number' && typeof stream.recvWindowCapacity === 'number' &&
    typeof stream.sendWindowCapacity === 'number' && typeof stream.maxStreamWindowSize === 'number' &&
    typeof stream.maxMessageSize === 'number' && typeof stream.state === 'number' &&
    typeof stream.sendWindowUpdate === 'function' && typeof stream.handleWindowUpdate === 'function'
}

/**
 * Wrap a yamux factory (`yamux({...})`) so that its streams follow the spec
 * on the wire and still move bulk data fast:
 *
 * - **Window at open.** A stream starts at the spec's 256 KiB both ways
 *   (the remote, js, go or rust, assumes exactly that), and the difference
 *   up to {@link YamuxFlowControlInit.initialWindow} is granted with a
 *   WINDOW_UPDATE at once: with the SYN of an outbound stream, and with an
 *   ACK sent right away for an inbound one (as go-yamux does). Stock yamux 8
 *   configured with a larger `initialStreamWindowSize` assumes the remote
 *   did the same; with batched updates a stock sender then stops after
 *   256 KiB and waits forever (issue 22). Here the spec's view is restored
 *   whatever the factory was given.
 * - **Batched updates.** @chainsafe/libp2p-yamux 8 grants window after
 *   *every* DATA frame it receives, so each frame costs a second, tiny frame
 *   back; on a relayed tunnel those were half of all the messages the relay
 *   forwarded. Here an update goes out once the remote's remaining credit
 *   (what we granted minus what arrived: the same number the remote holds)
 *   has fallen by `updateFraction` of the window, as go-yamux does. This is
 *   correct for any spec sender: it always keeps at least the rest of the
 *   window, so it never waits for the batched update.
 * - **Bounded frames.** DATA frames carry at most `maxFramePayload` bytes
 *   (stock yamux sends frames as large as the remote's window).
 */
export function yamuxFlowControl<F extends (...args: any[]) => any> (factory: F, init: YamuxFlowControlInit = {}): F {
  const initialWindow = init.initialWindow ?? YAMUX_INITIAL_WINDOW
  const fraction = init.updateFraction ?? YAMUX_WINDOW_UPDATE_FRACTION
  const maxFrame = init.maxFramePayload ?? YAMUX_MAX_FRAME_PAYLOAD
  return ((...args: any[]) => {
    const muxerFactory = factory(...args)
    const createStreamMuxer = muxerFactory.createStreamMuxer.bind(muxerFactory)
    muxerFactory.createStreamMuxer = (maConn: any) => {
      const muxer = createStreamMuxer(maConn)
      const newStream = muxer._newStream
      if (typeof newStream !== 'function') {
        missingInternals('YamuxMuxer._newStream', 'yamux keeps its stock flow control (256 KiB windows, one update per frame)')
        return muxer
      }
      muxer._newStream = function (this: any, ...streamArgs: any[]) {
        const stream = newStream.apply(this, streamArgs)
        if (!isYamux8Stream(stream)) {
          missingInternals('YamuxStream window fields', 'yamux keeps its stock flow control (256 KiB windows, one update per frame)')
          return stream
        }
        tuneStream(stream, initialWindow, fraction, maxFrame)
        return stream
      }
      return muxer
    }
    return muxerFactory
  }) as F
}

/** Apply {@link yamuxFlowControl} to one new stream (before its SYN or ACK went out). */
function tuneStream (stream: any, initialWindow: number, fraction: number, maxFrame: number): void {
  // both ends' credit as the spec has it, whatever initialStreamWindowSize the
  // factory got (the constructor assumes the remote used the same value)
  const configured = stream.recvWindow
  stream.sendWindowCapacity = YAMUX_SPEC_WINDOW
  stream.recvWindowCapacity = YAMUX_SPEC_WINDOW
  stream.maxMessageSize = Math.min(YAMUX_SPEC_WINDOW - YAMUX_HEADER_LENGTH, maxFrame)
  // the window we want: granted with the SYN or ACK (delta = recvWindow - recvWindowCapacity)
  stream.recvWindow = Math.max(configured, Math.min(initialWindow, stream.maxStreamWindowSize))

  const sendWindowUpdate = stream.sendWindowUpdate
  stream.sendWindowUpdate = function (this: any) {
    // SYN/ACK (they carry the grant up to recvWindow), paused and resumed streams take the stock path
    if (this.state === StreamState.Established && this.recvWindowCapacity > this.recvWindow * (1 - fraction)) return
    sendWindowUpdate.call(this)
  }
  const handleWindowUpdate = stream.handleWindowUpdate
  stream.handleWindowUpdate = function (this: any, frame: any) {
    handleWindowUpdate.call(this, frame)
    // yamux sizes the next frames to the whole send window
    if (this.maxMessageSize > maxFrame) this.maxMessageSize = maxFrame
  }
  if (stream.state === StreamState.SYNReceived) {
    // grant the window with an ACK now: stock yamux ACKs only with its first
    // frame, so a remote that sends first would wait at 256 KiB for it. Next
    // microtask: the muxer tracks the stream and handles the SYN frame first
    queueMicrotask(() => {
      if (stream.state === StreamState.SYNReceived && stream.status === 'open') stream.sendWindowUpdate()
    })
  }
  // an outbound stream's SYN goes out from the muxer's own microtask, with the grant
}

/** One `writev` for everything a send hands the socket (Noise emits prefix, ciphertext and tag as separate buffers). */
function corkedSendData (this: any, data: Iterable<Uint8Array>): { sentBytes: number, canSendMore: boolean } {
  const socket = this.socket
  let sentBytes = 0
  let canSendMore = true
  socket.cork()
  try {
    for (const buf of data) {
      sentBytes += buf.byteLength
      canSendMore = socket.write(buf)
    }
  } finally {
    socket.uncork()
  }
  return { sentBytes, canSendMore }
}

function corkingUpgrader (upgrader: any, missing: (what: string) => void): any {
  if (upgrader == null) return upgrader
  return new Proxy(upgrader, {
    get (target, prop) {
      if (prop === 'upgradeInbound' || prop === 'upgradeOutbound') {
        return async (maConn: any, opts: any) => {
          if (maConn?.socket != null && typeof maConn.sendData === 'function') maConn.sendData = corkedSendData
          else missing(maConn?.socket == null ? 'maConn.socket' : 'maConn.sendData()')
          return await target[prop](maConn, opts)
        }
      }
      const v = Reflect.get(target, prop, target)
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
}

/**
 * The TCP transport (`@libp2p/tcp`), with each send written as one corked
 * batch. The stock connection calls `socket.write()` once per buffer, and a
 * Noise message is at least three (2-byte length, ciphertext, 16-byte tag):
 * with `noDelay` every one is its own syscall and TCP segment, and the peer
 * wakes up for each. Backpressure is unchanged: the result of the last
 * `write()` is reported, as before.
 */
export function corkedTcp (init: TCPOptions = {}): ReturnType<typeof tcp> {
  const factory = tcp(init)
  return (components) => {
    const transport: any = factory(components)
    const log = components.logger.forComponent('peerup:patches')
    const missing = onceMissing(log, 'corkedTcp', 'every Noise message costs one write() syscall per buffer again')
    const dial = transport.dial.bind(transport)
    const createListener = transport.createListener.bind(transport)
    transport.dial = async (ma: any, options: any) => await dial(ma, { ...options, upgrader: corkingUpgrader(options.upgrader, missing) })
    transport.createListener = (options: any) => createListener({ ...options, upgrader: corkingUpgrader(options.upgrader, missing) })
    return transport
  }
}

/**
 * A reporter that logs one error, the first time a patch does not find the
 * internal it expects (a dependency bump must not silently cost CPU).
 */
function onceMissing (log: Logger, patch: string, cost: string): (what: string) => void {
  let told = false
  return (what) => {
    if (told) return
    told = true
    reportMissingInternal(log, patch, what, cost)
  }
}

/** Thrown (never created anew) when fewer than two bytes of a Noise length prefix have arrived. */
const NEED_MORE = new RangeError('incomplete Noise length prefix')

function uint16BEDecode (data: Uint8Array | { byteLength: number, getUint16: (i: number) => number }): number {
  if (data.byteLength < 2) throw NEED_MORE
  if (data instanceof Uint8Array) return (data[0] << 8) + data[1]
  return data.getUint16(0)
}

/**
 * Give a connection's Noise stream a length decoder that does not build an
 * Error per TCP read. The decoder signals "need more bytes" by throwing a
 * RangeError, and Noise's throws a new one, stack trace included, every
 * time the buffered bytes are used up: once per read, 3% of the CPU of a
 * relayed tunnel. Call it from `connection:open`; connections that are not
 * Noise-encrypted are left alone.
 */
export function cheapNoiseLengthDecoder (connection: unknown): boolean {
  const encrypted = (connection as any)?.muxer?.maConn
  const decoder = encrypted?.decoder
  if (encrypted?.handshake == null || typeof decoder?.lengthDecoder !== 'function') return false
  decoder.lengthDecoder = uint16BEDecode
  return true
}

/**
 * {@link cheapNoiseLengthDecoder} for every `connection:open` of one node,
 * logging one error if a Noise connection (`encryption: '/noise'`) over a
 * muxer no longer exposes the decoder it replaces.
 */
export function noiseLengthDecoderPatch (log: Logger = logger('peerup:patches')): (connection: unknown) => void {
  const missing = onceMissing(log, 'cheapNoiseLengthDecoder', 'Noise builds an Error with a stack trace per TCP read again (~3% CPU of a relayed tunnel)')
  return (connection) => {
    if (cheapNoiseLengthDecoder(connection)) return
    const c: any = connection
    if (c?.encryption !== '/noise' || c?.muxer == null) return
    const encrypted = c.muxer.maConn
    missing(encrypted == null ? 'connection.muxer.maConn' : encrypted.handshake == null ? 'maConn.handshake' : 'maConn.decoder.lengthDecoder')
  }
}
