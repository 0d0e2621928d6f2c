/**
 * Gateway modes end to end: a real relay and home (CLI processes), the
 * client running `peerup gateway`, and real clients: curl through the SOCKS5
 * gateway, dig against the DNS gateway. Only 127.0.0.1.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer as createHttpServer } from 'node:http'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { addAuthorizedKey, addNameToFile, editYamlFile, SOCKS_REPLY } from '../../src/index.js'
import { Harness, startMesh, payload, sha256, type Mesh, type NodeDir, type Proc } from '../fixtures/mesh.js'
import { socksConnect } from '../fixtures/gateway.js'

interface Ran { code: number | string, stdout: Buffer, stderr: string }

/** Run a real client program (bounded). */
async function run (cmd: string, args: string[], timeoutMs = 30_000): Promise<Ran> {
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let err = ''
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.on('error', reject)
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? signal ?? -1, stdout: Buffer.concat(out), stderr: err }) })
  })
}

const curl = async (proxy: [string, string], url: string): Promise<Ran> => await run('curl', ['-sS', '--fail', '--max-time', '30', ...proxy, url])
const dig = async (port: number, args: string[]): Promise<string> => {
  const r = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=3', '+tries=1', ...args], 15_000)
  assert.equal(r.code, 0, r.stderr)
  return r.stdout.toString()
}
const status = (digOut: string): string | undefined => /status: (\w+)/.exec(digOut)?.[1]

describe('gateway modes: SOCKS5 and DNS through real processes', () => {
  const h = new Harness()
  let mesh: Mesh
  let gateway: Proc
  let socksPort: number
  let dnsPort: number
  let webPort: number
  const file = payload(3 * 1024 * 1024 + 17)
  const timings: Record<string, number> = {}

  const startGateway = async (): Promise<void> => {
    // the SOCKS log names each tunnel's path
    gateway = h.start(['--config', mesh.client.config, 'gateway', '--socks', '127.0.0.1:0', '--dns', '127.0.0.1:0'], { env: { DEBUG: 'peerup:gateway:socks' } })
    await gateway.waitFor(/^ready$/m, 20_000)
    socksPort = Number((await gateway.waitFor(/^socks5 127\.0\.0\.1:(\d+)$/m))[1])
    dnsPort = Number((await gateway.waitFor(/^dns 127\.0\.0\.1:(\d+)$/m))[1])
  }

  before(async () => {
    // the home's web service: a real HTTP server
    const web = h.track(createHttpServer((req, res) => {
      if (req.url === '/file') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.length })
        res.end(file)
      } else {
        res.writeHead(404)
        res.end()
      }
    }) as any)
    await new Promise<void>(resolve => web.listen(0, '127.0.0.1', () => { resolve() }))
    webPort = (web.address() as any).port
    mesh = await startMesh(h, {
      services: { web: webPort },
      // the client knows no direct address: tunnels go through the relay
      directAddr: false,
      beforeStart: ({ client }) => {
        // a small connection cap and a short handshake timeout, from the config's gateway section
        editYamlFile(client.config, doc => { doc.setIn(['gateway', 'socks'], doc.createNode({ max_connections: 64, handshake_timeout_seconds: 3 })) })
      }
    })
    await startGateway()
  })
  after(async () => { await h.cleanup() })

  it('curl --socks5-hostname reaches the home\'s web service by name (port 80 → "web"), byte-exact', async () => {
    for (const url of ['http://home.grewal/file', 'http://home.grewal.p2p/file', `http://home.grewal:${webPort}/file`]) {
      const started = performance.now()
      const r = await curl(['--socks5-hostname', `127.0.0.1:${socksPort}`], url)
      timings[url] = Math.round(performance.now() - started)
      assert.equal(r.code, 0, `${url}: ${r.stderr}`)
      assert.equal(r.stdout.length, file.length, url)
      assert.equal(sha256(r.stdout), sha256(file), url)
    }
    // the client knows no direct address for the home: the first tunnel went through the relay
    assert.match(gateway.stderr(), /home\.grewal:80 -> home\.grewal \(\S+\) relayed via /)
  })

  it('dig: A in 10.64/16 for home.grewal.p2p (UDP and TCP), PTR back, NXDOMAIN for unknown names, REFUSED outside', async () => {
    const vip = (await dig(dnsPort, ['+short', 'home.grewal.p2p'])).trim()
    assert.match(vip, /^10\.64\.\d{1,3}\.\d{1,3}$/)
    assert.equal((await dig(dnsPort, ['+short', '+tcp', 'HOME.grewal.p2p'])).trim(), vip)
    assert.equal((await dig(dnsPort, ['+short', '-x', vip])).trim(), 'home.grewal.p2p.')
    const nx = await dig(dnsPort, ['nope.grewal.p2p'])
    assert.equal(status(nx), 'NXDOMAIN', nx)
    assert.match(nx, /p2p\.\s+\d+\s+IN\s+SOA/)
    assert.equal(status(await dig(dnsPort, ['example.com'])), 'REFUSED')
    assert.equal(status(await dig(dnsPort, ['home.grewal.p2p', 'AAAA'])), 'NOERROR')

    // curl with a virtual IP (the proxy gets an IPv4 address, no name)
    const r = await curl(['--socks5', `127.0.0.1:${socksPort}`], `http://${vip}/file`)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha256(r.stdout), sha256(file))
  })

  it('the node\'s own name answers with the vip that whoami --json reports', async () => {
    const who = await mesh.client$(['whoami', '--json'])
    assert.equal(who.code, 0, who.stderr)
    const me = JSON.parse(who.stdout.toString())
    assert.match(me.vip, /^10\.64\.\d{1,3}\.\d{1,3}$/)
    assert.equal((await dig(dnsPort, ['+short', `${me.name as string}.p2p`])).trim(), me.vip)
  })

  it('reply codes: no such service 0x05, unknown name 0x04, outside the mesh 0x04 (no passthrough), BIND 0x07', async () => {
    for (const [host, port, rep] of [['home.grewal', 9, SOCKS_REPLY.CONNECTION_REFUSED], ['nope.grewal.p2p', 80, SOCKS_REPLY.HOST_UNREACHABLE], ['example.com', 80, SOCKS_REPLY.HOST_UNREACHABLE]] as const) {
      const r = await socksConnect(socksPort, host, port, { timeoutMs: 20_000 })
      r.socket.destroy()
      assert.equal(r.rep, rep, `${host}:${port}`)
    }
    const bind = await new Promise<Buffer>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: socksPort })
      const got: Buffer[] = []
      s.on('data', d => got.push(d))
      s.on('close', () => { resolve(Buffer.concat(got)) })
      s.on('error', reject)
      s.write(Buffer.from([5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80]))
      setTimeout(() => { s.destroy() }, 5000)
    })
    assert.equal(bind[3], SOCKS_REPLY.COMMAND_NOT_SUPPORTED)
  })

  it('0x02 when the home does not authorize us', async () => {
    // a member of the relay that the home does not trust, with its own gateway; it knows the home's
    // direct address, where the home's refusal is visible (a relayed refusal looks like any relay failure)
    const stranger: NodeDir = await h.initNode('stranger', 'client')
    addAuthorizedKey(join(mesh.relay.dir, 'authorized_keys'), stranger.peerId, { comment: 'stranger' })
    addAuthorizedKey(join(stranger.dir, 'authorized_keys'), mesh.home.peerId, { comment: 'home' })
    editYamlFile(stranger.config, doc => { doc.set('relays', doc.createNode([mesh.relayAddr])) })
    addNameToFile(join(stranger.dir, 'names.yaml'), 'home.grewal', mesh.home.peerId, [mesh.homeAddr])
    const g = h.start(['--config', stranger.config, 'gateway', '--socks', '127.0.0.1:0'], { env: { DEBUG: 'peerup:gateway*' } })
    await g.waitFor(/^ready$/m, 20_000)
    const port = Number((await g.waitFor(/^socks5 127\.0\.0\.1:(\d+)$/m))[1])
    const r = await socksConnect(port, 'home.grewal', 80, { timeoutMs: 20_000 })
    r.socket.destroy()
    g.kill('SIGTERM')
    await g.exited
    assert.equal(r.rep, SOCKS_REPLY.NOT_ALLOWED, g.stderr())
  })

  it('200 idle SOCKS connections (slowloris) do not keep a real client out, and are closed by the handshake timeout', async () => {
    const idle: Socket[] = []
    const closed: Array<Promise<number>> = []
    const opened = performance.now()
    try {
      for (let i = 0; i < 200; i++) {
        const s = connect({ host: '127.0.0.1', port: socksPort })
        s.on('error', () => {})
        idle.push(s)
        closed.push(new Promise(resolve => { s.on('close', () => { resolve(performance.now() - opened) }) }))
      }
      await Promise.all(idle.map(async s => await new Promise(resolve => { s.once('connect', resolve); s.once('close', resolve); setTimeout(resolve, 5000).unref() })))
      const started = performance.now()
      const r = await socksConnect(socksPort, 'home.grewal', 80, { timeoutMs: 10_000 })
      timings.slowlorisHandshake = Math.round(r.ms)
      r.socket.destroy()
      assert.equal(r.rep, SOCKS_REPLY.SUCCEEDED)
      assert.ok(r.ms < 2000, `SOCKS handshake took ${r.ms} ms`)
      const c = await curl(['--socks5-hostname', `127.0.0.1:${socksPort}`], 'http://home.grewal/file')
      assert.equal(c.code, 0, c.stderr)
      assert.equal(sha256(c.stdout), sha256(file))
      timings.slowlorisCurl = Math.round(performance.now() - started)
      // every idle connection is closed by the gateway: evicted, or at the 3 s handshake timeout
      const deadline = new Promise<number>(resolve => setTimeout(() => { resolve(-1) }, 8000))
      const times = await Promise.all(closed.map(async p => await Promise.race([p, deadline])))
      assert.ok(times.every(t => t >= 0), `${times.filter(t => t < 0).length} idle connections still open after 8 s`)
      assert.ok(Math.max(...times) < 3000 + 2000, `last idle connection closed after ${Math.max(...times)} ms`)
    } finally {
      for (const s of idle) s.destroy()
    }
  })

  it('keeps the same virtual IP and PTR across a gateway restart (vip-table.json)', async () => {
    const before = (await dig(dnsPort, ['+short', 'home.grewal.p2p'])).trim()
    gateway.kill('SIGTERM')
    assert.equal(await gateway.exited, 0)
    await startGateway()
    // PTR first: the name must come from the table file, not from a fresh lookup
    assert.equal((await dig(dnsPort, ['+short', '-x', before])).trim(), 'home.grewal.p2p.')
    assert.equal((await dig(dnsPort, ['+short', 'home.grewal.p2p'])).trim(), before)
    const r = await curl(['--socks5', `127.0.0.1:${socksPort}`], `http://${before}/file`)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha256(r.stdout), sha256(file))
    process.stderr.write(`# gateway timings (ms): ${JSON.stringify(timings)}\n`)
  })
})
