/**
 * The control server's socket: born 0600 without touching the process umask
 * (a file another part of the process writes meanwhile keeps its usual mode),
 * unreachable for another user, and a socket that appears meanwhile is not
 * replaced. No node is started: the socket does not need one.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createControlServer } from '../../src/control/server.js'
import type { LoadedConfig } from '../../src/config/load.js'
import type { PeerupNode } from '../../src/node/node.js'

const dirs: string[] = []
function configIn (): LoadedConfig {
  const dir = mkdtempSync(join(tmpdir(), 'peerup-ctl-'))
  dirs.push(dir)
  // traversable by others, as a home directory often is: only the socket's own mode keeps them out
  chmodSync(dir, 0o755)
  return { dir, file: join(dir, 'config.yaml'), path: (p: string) => join(dir, p), config: { daemon: {} } } as unknown as LoadedConfig
}
const server = (config: LoadedConfig): ReturnType<typeof createControlServer> => createControlServer({ node: {} as unknown as PeerupNode, config })

describe('control server socket', { timeout: 30_000 }, () => {
  after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

  it('is 0600 in the config dir, and the process umask is left alone while it starts', async () => {
    const cfg = configIn()
    const s = server(cfg)
    const started = s.start()
    // written while start() is under way: it gets the mode of the process's own umask
    const other = join(cfg.dir, 'written-meanwhile')
    writeFileSync(other, 'x')
    await started
    try {
      const mask = process.umask(0o022)
      process.umask(mask)
      assert.equal(statSync(other).mode & 0o777, 0o666 & ~mask, 'a file written during start() keeps the umask mode')
      const st = lstatSync(s.socketPath)
      assert.equal(st.isSocket(), true)
      assert.equal(st.mode & 0o777, 0o600)
      assert.deepEqual(readdirSync(cfg.dir).sort(), ['peerup.sock', 'written-meanwhile'], 'no private bind directory is left behind')
    } finally {
      await s.stop()
    }
    assert.equal(existsSync(s.socketPath), false, 'stop() removes the socket')
  })

  it('another user (nobody, run from root as the suite is) cannot connect: EACCES', async () => {
    const cfg = configIn()
    const s = server(cfg)
    await s.start()
    try {
      const code = `require('node:net').connect(${JSON.stringify(s.socketPath)}).on('connect', () => { console.log('connected'); process.exit(0) }).on('error', e => { console.log(e.code); process.exit(0) })`
      const child = spawn(process.execPath, ['-e', code], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (d: Buffer) => { out += d.toString() })
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await new Promise(resolve => child.on('exit', resolve))
      clearTimeout(timer)
      assert.equal(out.trim(), 'EACCES')
    } finally {
      await s.stop()
    }
  })

  it('a second server for the same config is refused and leaves the first one\'s socket', async () => {
    const cfg = configIn()
    const first = server(cfg)
    await first.start()
    try {
      const ino = statSync(first.socketPath).ino
      await assert.rejects(server(cfg).start(), { name: 'ControlSocketError', message: /another peerup daemon is running/ })
      assert.equal(statSync(first.socketPath).ino, ino)
    } finally {
      await first.stop()
    }
  })
})
