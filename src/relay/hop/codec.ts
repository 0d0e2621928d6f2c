import { HOP_MAX_MESSAGE } from '../../constants.js'
import { decodeMessage, encodeMessage, lengthPrefixed, takeLengthPrefixed } from './circuit-pb.js'
import type { CircuitMessage } from './circuit-pb.js'
import type { Stream } from '@libp2p/interface'

/**
 * Circuit messages on a stream: one length-prefixed HOP or STOP message
 * read from, or written to, a libp2p stream (the protobuf encoding itself
 * is in `circuit-pb.ts`).
 */

/**
 * Read one length-prefixed circuit message; returns it and any bytes read
 * past it. The stream is paused afterwards, so nothing is lost before the
 * splice attaches its listeners.
 */
export async function readMessage (stream: Stream, kind: 'hop' | 'stop', signal: AbortSignal): Promise<{ msg: CircuitMessage, rest: Uint8Array }> {
  return await new Promise((resolve, reject) => {
    let buf = new Uint8Array(0)
    const done = (err?: Error, value?: { msg: CircuitMessage, rest: Uint8Array }): void => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onAbort)
      // hold further data until the splice attaches its listeners
      try { if (stream.readStatus === 'readable') stream.pause() } catch {}
      if (err != null) reject(err); else resolve(value!)
    }
    const onMessage = (evt: any): void => {
      const chunk: Uint8Array = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      const next = new Uint8Array(buf.byteLength + chunk.byteLength)
      next.set(buf, 0)
      next.set(chunk, buf.byteLength)
      buf = next
      try {
        const got = takeLengthPrefixed(buf, HOP_MAX_MESSAGE)
        if (got != null) done(undefined, { msg: decodeMessage(kind, got.message), rest: got.rest })
      } catch (err: any) {
        done(err)
      }
    }
    const onClose = (): void => { done(new Error('stream closed before a message arrived')) }
    const onAbort = (): void => { done(new Error('handshake timed out')) }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', onClose)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** Write one length-prefixed circuit message. */
export function writeMessage (stream: Stream, kind: 'hop' | 'stop', msg: CircuitMessage): void {
  stream.send(lengthPrefixed(encodeMessage(kind, msg)))
}
