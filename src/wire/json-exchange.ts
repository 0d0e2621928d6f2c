import { JSON_MAX_INBOUND_STREAMS, JSON_REPLY_TIMEOUT, MAX_JSON_MESSAGE } from '../constants.js'
import { PeerupError } from '../errors.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { AbortOptions, Connection, Stream } from '@libp2p/interface'

export { MAX_JSON_MESSAGE }

/** Read one newline-terminated JSON message (bounded) from a stream. */
async function readJsonLine (stream: Stream, options: AbortOptions & { timeoutMs?: number } = {}): Promise<unknown> {
  return await new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = []
    let size = 0
    const timer = setTimeout(() => { done(new PeerupError('timed out waiting for a reply')) }, options.timeoutMs ?? JSON_REPLY_TIMEOUT)
    const done = (err?: Error, value?: unknown): void => {
      clearTimeout(timer)
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('close', onClose)
      stream.removeEventListener('remoteCloseWrite', onFin)
      if (err != null) reject(err); else resolve(value)
    }
    const tryParse = (final: boolean): void => {
      const buf = Buffer.concat(chunks)
      const nl = buf.indexOf(10)
      if (nl < 0 && !final) return
      const text = buf.subarray(0, nl < 0 ? buf.length : nl).toString('utf8')
      try { done(undefined, JSON.parse(text)) } catch { done(new PeerupError('malformed message')) }
    }
    const onMessage = (evt: any): void => {
      const b: Uint8Array = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      size += b.byteLength
      if (size > MAX_JSON_MESSAGE) { stream.abort(new Error('message too large')); done(new PeerupError('message too large')); return }
      chunks.push(b)
      tryParse(false)
    }
    const onFin = (): void => { setTimeout(() => { tryParse(true) }, 0) }
    const onClose = (evt: any): void => { if (size === 0) done(new PeerupError(`stream closed${evt.error != null ? `: ${evt.error.message}` : ''}`)); else tryParse(true) }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', onClose)
    stream.addEventListener('remoteCloseWrite', onFin)
    if (stream.remoteWriteStatus === 'closed') onFin()
    options.signal?.addEventListener('abort', () => { done(new PeerupError('aborted')) }, { once: true })
  })
}

/** Send one request on a new stream of `conn` and read one reply. */
export async function requestJson<T = unknown> (conn: Connection, protocol: string, body: unknown, options: AbortOptions & { timeoutMs?: number } = {}): Promise<T> {
  const stream = await conn.newStream(protocol, { runOnLimitedConnection: true, signal: options.signal })
  const reply = readJsonLine(stream, options)
  stream.send(Buffer.from(JSON.stringify(body) + '\n'))
  await stream.close().catch(() => {})
  return await reply as T
}

/** Serve a request/response protocol: one JSON request in, one JSON reply out. */
export async function serveJson (libp2p: PeerupLibp2p, protocol: string, handler: (req: any, conn: Connection) => Promise<unknown> | unknown): Promise<void> {
  await libp2p.handle(protocol, (stream, conn) => {
    readJsonLine(stream)
      .then(async req => await handler(req, conn))
      .then(async reply => {
        stream.send(Buffer.from(JSON.stringify(reply ?? null) + '\n'))
        await stream.close()
      })
      .catch((err: Error) => { stream.abort(err) })
  }, { runOnLimitedConnection: true, maxInboundStreams: JSON_MAX_INBOUND_STREAMS, force: true })
}
