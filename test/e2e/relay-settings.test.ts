/**
 * Relay settings a new user gets wrong, with real CLI processes on loopback:
 * a relay address without `/p2p/<id>` is refused at `init` and at config load
 * (exit 2, naming the flag or file:line:key, and the fix); `init` of a home
 * without `--relay` warns; `init` writes a fixed listen port; the daemon
 * says it is waiting for a reservation after `ready`, warns when a home has
 * no relay, and a listen port in use is one line naming `network.listen`.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { editYamlFile, loadConfig } from '../../src/index.js'
import { Harness, tcpServer, type RunResult } from '../fixtures/mesh.js'

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** stderr is exactly one line starting with `peerup: `; returns it. */
function oneLine (r: RunResult): string {
  const lines = r.stderr.split('\n').filter(l => l !== '')
  assert.equal(lines.length, 1, `expected one stderr line, got: ${JSON.stringify(r.stderr)}`)
  assert.ok(lines[0].startsWith('peerup: '), lines[0])
  return lines[0]
}

describe('relay settings: refused early, with the fix; the daemon says what it waits for', { timeout: 120_000 }, () => {
  const h = new Harness()
  after(async () => { await h.cleanup() })
  const peerup = async (args: string[]): Promise<RunResult> => await h.run(args, { timeoutMs: 45_000 })

  it('init --relay without /p2p/<relay-id> is exit 2 naming the flag and the fix, and writes nothing', async () => {
    const dir = join(h.root, 'nop2p')
    const r = await peerup(['--config', join(dir, 'config.yaml'), 'init', '--role', 'home', '--relay', '/ip4/203.0.113.7/tcp/7777'])
    assert.equal(r.code, 2, r.stderr)
    const line = oneLine(r)
    assert.match(line, /^peerup: --relay "\/ip4\/203\.0\.113\.7\/tcp\/7777" has no \/p2p\/<relay-peer-id>/)
    assert.match(line, /peerup relay serve/, 'says where the full address comes from')
    assert.equal(existsSync(join(dir, 'config.yaml')), false, 'no config written')
    assert.equal(existsSync(join(dir, 'identity.key')), false, 'no key written')
    const bad = await peerup(['--config', join(dir, 'config.yaml'), 'init', '--role', 'client', '--relay', '/ip4/203.0.113.7/tcp/77777'])
    assert.equal(bad.code, 2, bad.stderr)
    assert.match(oneLine(bad), /^peerup: --relay "\/ip4\/203\.0\.113\.7\/tcp\/77777" is not a valid multiaddr/)
  })

  it('a relay address without /p2p/<relay-id> in the config is exit 2 at load, naming file, line and key', async () => {
    const n = await h.initNode('loadnop2p', 'home')
    writeFileSync(n.config, readFileSync(n.config, 'utf8').replace(/^relays: .*$/m, 'relays:\n  - /ip4/203.0.113.7/tcp/7777'))
    const line = readFileSync(n.config, 'utf8').split('\n').findIndex(l => l.includes('/ip4/203.0.113.7/tcp/7777')) + 1
    for (const cmd of [['whoami'], ['daemon'], ['ping', 'x']]) {
      const r = await peerup(['--config', n.config, ...cmd])
      assert.equal(r.code, 2, `${cmd[0]}: ${r.stderr}`)
      assert.match(oneLine(r), new RegExp(`^peerup: ${esc(n.config)}:${line}: relays\\.0: "/ip4/203\\.0\\.113\\.7/tcp/7777" has no /p2p/<relay-peer-id>.*peerup relay serve`))
    }
  })

  it('init of a home without --relay warns; init writes a fixed listen port for home and client', async () => {
    const home = join(h.root, 'norelay', 'config.yaml')
    const r = await peerup(['--config', home, 'init', '--role', 'home', '--network', 'grewal', '--name', 'box'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, new RegExp(`^warning: no --relay: nothing outside this machine's network can reach this home node\\. .*under relays: in ${esc(home)}$`, 'm'))
    assert.deepEqual(loadConfig(home).config.network.listen, ['/ip4/0.0.0.0/tcp/4001'])

    const relayId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const client = join(h.root, 'client-fixed', 'config.yaml')
    const c = await peerup(['--config', client, 'init', '--role', 'client', '--relay', `/ip4/203.0.113.7/tcp/7777/p2p/${relayId}`])
    assert.equal(c.code, 0, c.stderr)
    assert.doesNotMatch(c.stderr, /warning/)
    const cfg = loadConfig(client).config
    assert.deepEqual(cfg.network.listen, ['/ip4/0.0.0.0/tcp/4001'])
    assert.deepEqual(cfg.relays, [`/ip4/203.0.113.7/tcp/7777/p2p/${relayId}`])

    const given = join(h.root, 'listen-given', 'config.yaml')
    const g = await peerup(['--config', given, 'init', '--role', 'home', '--relay', `/ip4/203.0.113.7/tcp/7777/p2p/${relayId}`, '--listen', '/ip4/127.0.0.1/tcp/0'])
    assert.equal(g.code, 0, g.stderr)
    assert.doesNotMatch(g.stderr, /warning/)
    assert.deepEqual(loadConfig(given).config.network.listen, ['/ip4/127.0.0.1/tcp/0'])
  })

  it('the daemon prints ready, then that it is waiting for a reservation on a relay that has not answered yet', async () => {
    // accepts TCP and never speaks: the reservation attempt is pending, nothing has failed yet
    const held = new Set<Socket>()
    const silent = await tcpServer(h, (s) => { held.add(s) })
    const relayId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const relayAddr = `/ip4/127.0.0.1/tcp/${silent.port}/p2p/${relayId}`
    const n = await h.initNode('waiting', 'home')
    editYamlFile(n.config, doc => { doc.set('relays', doc.createNode([relayAddr])) })
    const p = h.start(['--config', n.config, 'daemon'])
    await p.waitFor(/^ready$/m, 30_000)
    await p.waitFor(new RegExp(`^waiting for a reservation on relay ${esc(relayAddr)}$`, 'm'), 3000)
    assert.doesNotMatch(p.stderr(), /^reserved on relay/m)
    assert.doesNotMatch(p.stderr(), /^no reservation on relay \S+ \(retrying\)$/m, 'never "retrying" without a reason')
    p.kill('SIGTERM')
    await p.exited
    for (const s of held) s.destroy()
  })

  it('the daemon of a home with no relay warns that nothing can reach it', async () => {
    const n = await h.initNode('lonely', 'home')
    const p = h.start(['--config', n.config, 'daemon'])
    await p.waitFor(/^ready$/m, 30_000)
    await p.waitFor(new RegExp(`^warning: no relays in ${esc(n.config)}: nothing outside this node's network can reach it`, 'm'), 3000)
    p.kill('SIGTERM')
    await p.exited
  })

  it('a listen port in use is exit 2 with one line naming file, line and network.listen', async () => {
    const holder = h.track(createServer())
    await new Promise<void>(resolve => holder.listen(0, '127.0.0.1', () => { resolve() }))
    const port = (holder.address() as any).port as number
    const n = await h.initNode('portinuse', 'home', { listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    const line = readFileSync(n.config, 'utf8').split('\n').findIndex(l => /^\s+listen:/.test(l)) + 1
    const r = await peerup(['--config', n.config, 'daemon'])
    assert.equal(r.code, 2, r.stderr)
    const lines = r.stderr.split('\n').filter(l => l !== '' && !l.startsWith('control socket '))
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0], new RegExp(`^peerup: ${esc(n.config)}:${line}: network\\.listen: cannot listen on /ip4/127\\.0\\.0\\.1/tcp/${port} \\(.*EADDRINUSE.*\\): another program`))
  })
})
