import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { logger } from '@libp2p/logger'
import { ConfigError, UnreachableError } from '../errors.js'

const log = logger('peerup:relay:status')

/** Largest status answer a client reads (bytes). */
const MAX_ANSWER = 1024 * 1024

/** Init of {@link serveStatusSocket}. */
export interface StatusSocketInit {
  /** Path of the Unix socket (mode 0600: only the relay's user may ask). */
  file: string
  /** Produce the status object; called once per connection. */
  describe: () => unknown
}

/** A running status socket. */
export interface StatusSocket {
  close (): Promise<void>
}

/**
 * Answer every connection on a Unix socket with one JSON line (the relay's
 * counters, memory and descriptors), then close it. `peerup relay status`
 * is the client. A stale socket file from a killed relay is replaced.
 */
export async function serveStatusSocket (init: StatusSocketInit): Promise<StatusSocket> {
  if (existsSync(init.file)) {
    // never delete anything but a socket (a mistyped path must not cost a file)
    if (!lstatSync(init.file).isSocket()) throw new ConfigError(`${init.file}: relay.status_socket exists and is not a socket`)
    const alive = await queryStatusSocket(init.file, { timeoutMs: 1000 }).then(() => true, () => false)
    if (alive) throw new Error(`${init.file}: another relay answers on this status socket`)
    unlinkSync(init.file)
  }
  const server = createServer((s) => {
    s.on('error', () => {})
    let text: string
    try { text = JSON.stringify(init.describe()) } catch (err: any) { text = JSON.stringify({ error: err.message }) }
    s.end(text + '\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.file, () => { server.off('error', reject); resolve() })
  })
  chmodSync(init.file, 0o600)
  log('status socket on %s', init.file)
  return {
    async close () {
      await new Promise<void>(resolve => server.close(() => { resolve() }))
      try { unlinkSync(init.file) } catch {}
    }
  }
}

/** Ask a relay's status socket; rejects with {@link UnreachableError} when no relay answers. */
export async function queryStatusSocket (file: string, options: { timeoutMs?: number } = {}): Promise<unknown> {
  return await new Promise((resolve, reject) => {
    const s = connect(file)
    const chunks: Buffer[] = []
    let size = 0
    const timer = setTimeout(() => { s.destroy(); reject(new UnreachableError(`${file}: the relay did not answer within ${options.timeoutMs ?? 5000} ms`)) }, options.timeoutMs ?? 5000)
    s.on('data', (d: Buffer) => {
      size += d.length
      if (size > MAX_ANSWER) { s.destroy(); clearTimeout(timer); reject(new Error(`${file}: status answer over ${MAX_ANSWER} bytes`)); return }
      chunks.push(d)
    })
    s.on('error', (err: any) => {
      clearTimeout(timer)
      reject(new UnreachableError(`${file}: no relay running (${err.code ?? err.message})`))
    })
    s.on('end', () => {
      clearTimeout(timer)
      try { resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))) } catch (err: any) { reject(new Error(`${file}: bad status answer: ${err.message}`)) }
    })
  })
}
