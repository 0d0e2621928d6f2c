/**
 * `peerup status` through real processes: a relay, a home daemon with an
 * echo service, and a client running `peerup gateway --socks` (a daemon
 * with the SOCKS5 gateway) plus `peerup proxy`, which goes through that
 * daemon. 1 MiB through each must show up in the client's status: bytes,
 * the live tunnel, peers with their path class, name and authorized_keys
 * comment; the human form groups the addresses.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { createControlClient } from '../../src/index.js'
import { socksConnect } from '../fixtures/gateway.js'
import { Harness, startMesh, echoServer, dial, payload, sha256, type Mesh, type Proc } from '../fixtures/mesh.js'
import type { DaemonStatus } from '../../src/index.js'
import type { Socket } from 'node:net'

const MiB = 1024 * 1024
const CLASSES = ['direct-tcp', 'direct-udp', 'relayed']

/** Write `data` (no FIN) and wait, bounded, until the echo of all of it is back. */
async function echoThrough (s: Socket, data: Buffer, timeoutMs = 30_000): Promise<Buffer> {
  return await new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let have = 0
    const timer = setTimeout(() => { reject(new Error(`echo: ${have} of ${data.length} bytes after ${timeoutMs} ms`)) }, timeoutMs)
    s.on('data', (d: Buffer) => {
      chunks.push(d)
      have += d.length
      if (have >= data.length) { clearTimeout(timer); resolve(Buffer.concat(chunks)) }
    })
    s.on('error', (err) => { clearTimeout(timer); reject(err) })
    s.write(data)
  })
}

/** Half-close and wait (bounded) for the far end to close too. */
async function finish (s: Socket): Promise<void> {
  await new Promise<void>(resolve => {
    const timer = setTimeout(() => { s.destroy(); resolve() }, 10_000)
    s.once('close', () => { clearTimeout(timer); resolve() })
    s.resume()
    s.end()
  })
}

describe('peerup status: SOCKS and proxy tunnels counted, peers named, addresses grouped', () => {
  const h = new Harness()
  let mesh: Mesh
  let gateway: Proc
  let proxy: Proc
  let socksPort = 0
  let proxyPort = 0
  let echoPort = 0
  const status = async (): Promise<DaemonStatus> => await createControlClient({ socketPath: join(mesh.client.dir, 'peerup.sock'), timeoutMs: 10_000 }).status()

  before(async () => {
    const echo = await echoServer(h)
    echoPort = echo.port
    mesh = await startMesh(h, { services: { echo: echo.port } })
    gateway = h.start(['--config', mesh.client.config, 'gateway', '--socks', '127.0.0.1:0'])
    await gateway.waitFor(/^ready$/m, 30_000)
    socksPort = Number((await gateway.waitFor(/^socks5 127\.0\.0\.1:(\d+)$/m))[1])
    await gateway.waitFor(/reserved on relay/, 20_000)
    proxy = h.start(['--config', mesh.client.config, 'proxy', 'home.grewal', 'echo', '0'])
    proxyPort = Number((await proxy.waitFor(/^proxy 127\.0\.0\.1:(\d+) -> home\.grewal echo/m, 30_000))[1])
    await proxy.waitFor(/^ready$/m)
  }, { timeout: 120_000 })
  after(async () => { await h.cleanup() })

  it('1 MiB through `peerup proxy` (via the daemon): the tunnel is listed while open, and its bytes are counted', { timeout: 60_000 }, async () => {
    assert.match(proxy.stdout(), /\(direct, daemon\)|\(direct-udp, daemon\)|\(relayed via \S+, daemon\)/)
    const before = await status()
    const data = payload(MiB)
    const s = await dial(proxyPort)
    const back = await echoThrough(s, data)
    assert.equal(sha256(back), sha256(data))
    const open = await status()
    const t = open.tunnels.find(x => x.direction === 'outbound' && x.origin === 'proxy')
    assert.ok(t != null, JSON.stringify(open.tunnels))
    assert.equal(t.target, 'home.grewal')
    assert.equal(t.service, 'echo')
    assert.equal(t.peerId, mesh.home.peerId)
    assert.ok(CLASSES.includes(t.class ?? ''), JSON.stringify(t))
    assert.ok(t.bytesIn >= MiB && t.bytesOut >= MiB, JSON.stringify(t))
    await finish(s)
    const after = await status()
    assert.ok(after.bytes.in - before.bytes.in >= MiB, `bytes in ${before.bytes.in} -> ${after.bytes.in}`)
    assert.ok(after.bytes.out - before.bytes.out >= MiB, `bytes out ${before.bytes.out} -> ${after.bytes.out}`)
  })

  it('1 MiB through the SOCKS gateway: the tunnel is listed while open, and its bytes are counted', { timeout: 60_000 }, async () => {
    const before = await status()
    const data = payload(MiB)
    const { rep, socket } = await socksConnect(socksPort, 'home.grewal', echoPort, { timeoutMs: 20_000 })
    assert.equal(rep, 0)
    const back = await echoThrough(socket, data)
    assert.equal(sha256(back), sha256(data))
    const open = await status()
    const t = open.tunnels.find(x => x.direction === 'outbound' && x.origin === 'socks')
    assert.ok(t != null, JSON.stringify(open.tunnels))
    assert.equal(t.peerId, mesh.home.peerId)
    assert.ok(t.bytesIn >= MiB && t.bytesOut >= MiB, JSON.stringify(t))
    await finish(socket)
    const after = await status()
    assert.ok(after.bytes.in - before.bytes.in >= MiB, `bytes in ${before.bytes.in} -> ${after.bytes.in}`)
    assert.ok(after.bytes.out - before.bytes.out >= MiB, `bytes out ${before.bytes.out} -> ${after.bytes.out}`)
  })

  it('--json peers carry class, name and comment (existing fields kept)', { timeout: 30_000 }, async () => {
    const r = await mesh.client$(['status', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout.toString()) as DaemonStatus
    const home = s.peers.find(p => p.peerId === mesh.home.peerId)
    assert.ok(home != null, JSON.stringify(s.peers))
    assert.equal(home.name, 'home.grewal')
    assert.equal(home.comment, 'home')
    assert.ok(CLASSES.includes(home.class), home.class)
    assert.equal(home.path, home.class === 'relayed' ? 'relayed' : 'direct')
    for (const k of ['peerId', 'relay', 'path', 'via', 'remoteAddr', 'connections', 'streams']) assert.ok(k in home, k)
    const relay = s.peers.find(p => p.peerId === mesh.relay.peerId)
    assert.ok(relay != null && relay.relay && relay.class === 'direct-tcp', JSON.stringify(relay))
    // the home knows the laptop by its authorized_keys comment
    const hs = JSON.parse((await h.run(['--config', mesh.home.config, 'status', '--json'])).stdout.toString()) as DaemonStatus
    const laptop = hs.peers.find(p => p.peerId === mesh.client.peerId)
    assert.ok(laptop != null, JSON.stringify(hs.peers))
    assert.equal(laptop.comment, 'laptop')
    assert.ok(CLASSES.includes(laptop.class))
  })

  it('the human form: the relay address first, loopback counted last, peers by name and path class, no VIA column', { timeout: 30_000 }, async () => {
    const r = await mesh.client$(['status'])
    assert.equal(r.code, 0, r.stderr)
    const text = r.stdout.toString()
    const lines = text.split('\n')
    const heading = lines.findIndex(l => l.startsWith('addresses ('))
    assert.ok(heading >= 0, text)
    assert.match(lines[heading + 1], new RegExp(`^  relay\\s+/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${mesh.relay.peerId}/p2p-circuit`), text)
    // every loopback address is counted on one line, not listed
    assert.match(text, /^ {2}\+ \d+ loopback address(es)? \(this machine only\)$/m)
    const block = lines.slice(heading + 1, lines.indexOf('', heading))
    const listed = block.filter(l => !/^ {2}(relay|\+|\()/.test(l))
    assert.ok(listed.every(l => !l.includes('/ip4/127.')), block.join('\n'))
    assert.match(text, /^PEER\s+PEER ID\s+PATH\s+STREAMS\s+ADDRESS\s+COMMENT$/m)
    assert.doesNotMatch(text, /\bVIA\b/)
    assert.match(text, new RegExp(`^home\\.grewal\\s+${mesh.home.peerId}\\s+(direct-tcp|direct-udp|relayed via \\S+)\\s+\\d+\\s+\\S+\\s+home$`, 'm'))
    assert.match(text, new RegExp(`^relay 127\\.0\\.0\\.1:\\d+\\s+${mesh.relay.peerId}\\s+direct-tcp\\s`, 'm'))
    assert.match(text, /^bytes in \d+(\.\d)? (B|KiB|MiB|GiB)\s+out /m)
  })
})
