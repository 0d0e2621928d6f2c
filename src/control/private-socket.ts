/**
 * The control socket's file-system side: listen so that only the daemon's
 * user can ever connect, and tell a live daemon's socket from a stale one.
 */
import { chmodSync, linkSync, mkdtempSync, renameSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { dirname, join } from 'node:path'
import { ControlSocketError } from '../errors.js'
import { MAX_SOCKET_PATH } from './socket-path.js'
import type { Server } from 'node:net'

/**
 * Listen on the unix socket `path` so that no other user can ever connect:
 * bind it inside a fresh 0700 directory, make it 0600 there, then hard-link
 * it into place. A connect() that lands between bind and chmod would be
 * accepted (the kernel checks the mode at connect time), so the socket must
 * be unreachable until it is 0600; the process umask stays untouched. The
 * link fails if a socket appeared at `path` meanwhile (a second daemon);
 * where the file system has no hard links, a rename does it.
 */
export async function listenPrivately (server: Server, path: string): Promise<void> {
  const dir = mkdtempSync(join(dirname(path), '.s-'))
  const bound = join(dir, 's')
  try {
    if (Buffer.byteLength(bound) > MAX_SOCKET_PATH) {
      throw new ControlSocketError(`control socket path ${bound} (bound first, then linked to ${path}) is longer than ${MAX_SOCKET_PATH} bytes (a unix socket limit); move the config directory to a shorter path`)
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(bound, () => { server.off('error', reject); resolve() })
    })
    chmodSync(bound, 0o600)
    try {
      linkSync(bound, path)
    } catch (err: any) {
      if (err?.code === 'EEXIST') {
        server.close()
        throw new ControlSocketError(`another peerup daemon is running for this config (${path} appeared while this one started)`)
      }
      renameSync(bound, path)
    }
  } catch (err) {
    if (server.listening) server.close()
    throw err
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Whether something answers on a unix socket (a live daemon), bounded. */
export async function answers (path: string, timeoutMs = 1000): Promise<boolean> {
  return await new Promise(resolve => {
    const s = connect(path)
    const done = (v: boolean): void => { clearTimeout(t); s.destroy(); resolve(v) }
    const t = setTimeout(() => { done(true) }, timeoutMs)
    s.once('connect', () => { done(true) })
    s.once('error', () => { done(false) })
  })
}
