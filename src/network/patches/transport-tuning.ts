/**
 * Per-byte cost of the js-libp2p wire path (TCP → Noise → yamux), cut where
 * the stock modules spend CPU on bookkeeping rather than on bytes. Each fix
 * keeps the wire format and the flow-control semantics; a relayed tunnel
 * crosses these layers twice on each of its three processes, so it gains the
 * most (docs/PERFORMANCE.md, bench/relay-ab.ts).
 *
 * - {@link batchWindowUpdates}: yamux grants receive window in half-window
 *   steps instead of after every frame.
 * - {@link corkedTcp}: one `writev` per batch of Noise messages instead of a
 *   `write` per buffer (length prefix, ciphertext pieces, tag).
 * - {@link cheapNoiseLengthDecoder}: no stack trace per TCP read.
 *
 * They reach into internals of @chainsafe/libp2p-yamux 8,
 * @chainsafe/libp2p-noise 17 and @libp2p/tcp 11 (the versions pinned in
 * package.json); `test/unit/transport-tuning.test.ts` checks the behaviour
 * they rely on.
 */
import { logger } from '@libp2p/logger'
import { tcp, type TCPOptions } from '@libp2p/tcp'
import { StreamState } from '@chainsafe/libp2p-yamux/stream'
import { YAMUX_WINDOW_UPDATE_FRACTION } from '../../constants.js'
import { reportMissingInternal } from './report.js'
import type { Logger } from '@libp2p/interface'

/**
 * Wrap a yamux factory (`yamux({...})`) so that its streams send a
 * WINDOW_UPDATE only once the consumed part of the receive window reaches
 * {@link YAMUX_WINDOW_UPDATE_FRACTION} of it, as go-yamux does.
 * @chainsafe/libp2p-yamux 8 grants window after *every* DATA frame it
 * receives, so each frame costs a second, tiny frame back (header, Noise
 * prefix and tag, a socket write and a read at each end). On a relayed
 * tunnel those updates cross the relay as separate messages: they were half
 * of all the messages the relay forwarded. The sender always keeps at least
 * the rest of the window, so it never waits for the batched update.
 */
export function batchWindowUpdates<F extends (...args: any[]) => any> (factory: F): F {
  return ((...args: any[]) => {
    const muxerFactory = factory(...args)
    const createStreamMuxer = muxerFactory.createStreamMuxer.bind(muxerFactory)
    muxerFactory.createStreamMuxer = (maConn: any) => {
      const muxer = createStreamMuxer(maConn)
      const newStream = muxer._newStream
      if (typeof newStream !== 'function') return muxer
      muxer._newStream = function (this: any, ...streamArgs: any[]) {
        const stream = newStream.apply(this, streamArgs)
        const sendWindowUpdate = stream.sendWindowUpdate
        stream.sendWindowUpdate = function (this: any) {
          // SYN/ACK, paused and resumed streams take the stock path
          if (this.state === StreamState.Established &&
            this.recvWindow - this.recvWindowCapacity < this.recvWindow * YAMUX_WINDOW_UPDATE_FRACTION) return
          sendWindowUpdate.call(this)
        }
        return stream
      }
      return muxer
    }
    return muxerFactory
  }) as F
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
