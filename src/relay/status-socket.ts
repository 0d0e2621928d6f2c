import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { logger } from '@libp2p/logger'
import { ConfigError } from '../errors.js'
import { closeServer, listenOn } from '../util/listen.js'
import { queryStatusSocket } from './status-client.js'

export { queryStatusSocket }

const log = logger('peerup:relay:status')

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
  await listenOn(server, { path: init.file })
  chmodSync(init.file, 0o600)
  log('status socket on %s', init.file)
  return {
    async close () {
      await closeServer(server)
      try { unlinkSync(init.file) } catch {}
    }
  }
}
