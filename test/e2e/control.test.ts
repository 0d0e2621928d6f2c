/**
 * The daemon's control API through real processes: a client daemon, a home
 * daemon and a relay (startMesh). `peerup status`, `/metrics` on the socket
 * and on a TCP listener, daemon-backed `peerup nc` (8 MiB each way, sha256;
 * half-close; a service RST stays a reset), the socket's mode, stale-socket
 * replacement, a second daemon refused, and the in-process fallback.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, existsSync, lstatSync, statSync } from 'node:fs'
import { get } from 'node:http'
import { join } from 'node:path'
import { createControlClient, editYamlFile } from '../../src/index.js'
import { Harness, startMesh, echoServer, tcpServer, payload, sha256, freePort, pollUntil, type Mesh, type Proc, type RunResult } from '../fixtures/mesh.js'
import type { DaemonStatus } from '../../src/index.js'

const MiB = 1024 * 1024

/** Parse Prometheus text into `name{labels}` → value. */
function parseMetrics (text: string): Map<string, number> {
  const m = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    m.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return m
}

async function httpGet (url: string): Promise<{ code: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = get(url, { timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () => { resolve({ code: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }) })
    })
    req.on('error', reject)
    req.on('timeout', () => { req.destroy(new Error('timeout')) })
  })
}

describe('control API: status, metrics and nc through the daemon', () => {
  const h = new Harness()
  let mesh: Mesh
  let clientDaemon: Proc
  let sock: string
  let metricsPort: number
  const served: { halfclose: Buffer[], banner: Buffer[] } = { halfclose: [], banner: [] }
  const RESPONSE = payload(3 * MiB)
  const BANNER = Buffer.from('SSH-2.0-peerup-control-test\r\n')

  const startClientDaemon = async (): Promise<Proc> => {
    const p = h.start(['--config', mesh.client.config, 'daemon'])
    await p.waitFor(/^ready$/m, 30_000)
    await p.waitFor(/reserved on relay/, 20_000)
    return p
  }
  const client = (): ReturnType<typeof createControlClient> => createControlClient({ socketPath: sock, timeoutMs: 10_000 })
  const metrics = async (): Promise<Map<string, number>> => parseMetrics(await client().metrics())
  const nc = async (service: string, input: Buffer, extra: string[] = [], path = 'auto'): Promise<RunResult> =>
    await h.run(['--config', mesh.client.config, 'nc', 'home.grewal', service, '--path', path, ...extra], { input, timeoutMs: 60_000, env: { PEERUP_VERBOSE: '1' } })

  before(async () => {
    const echo = await echoServer(h)
    // reads the request to EOF, then answers and closes
    const halfclose = await tcpServer(h, s => {
      const got: Buffer[] = []
      s.on('data', (d: Buffer) => got.push(d))
      s.on('end', () => { served.halfclose.push(Buffer.concat(got)); s.end(RESPONSE) })
    })
    // banner and FIN at once, then keeps reading
    const banner = await tcpServer(h, s => {
      const got: Buffer[] = []
      s.end(BANNER)
      s.on('data', (d: Buffer) => got.push(d))
      s.on('end', () => { served.banner.push(Buffer.concat(got)) })
    })
    const rst = await tcpServer(h, s => {
      let n = 0
      s.on('data', (d: Buffer) => { n += d.length; if (n >= 64 * 1024 && !s.destroyed) s.resetAndDestroy() })
    })
    metricsPort = await freePort()
    mesh = await startMesh(h, {
      services: { echo: echo.port, halfclose: halfclose.port, banner: banner.port, rst: rst.port },
      beforeStart: ({ client }) => { editYamlFile(client.config, doc => { doc.setIn(['daemon', 'metrics_listen'], `127.0.0.1:${metricsPort}`) }) }
    })
    sock = join(mesh.client.dir, 'peerup.sock')
    clientDaemon = await startClientDaemon()
  }, { timeout: 90_000 })
  after(async () => { await h.cleanup() })

  it('the control socket is a 0600 socket in the config dir', () => {
    const st = lstatSync(sock)
    assert.equal(st.isSocket(), true)
    assert.equal(st.mode & 0o777, 0o600)
    assert.match(clientDaemon.stderr(), /control socket .*peerup\.sock \(mode 0600\)/)
    const home = lstatSync(join(mesh.home.dir, 'peerup.sock'))
    assert.equal(home.mode & 0o777, 0o600, 'the home daemon has its own control socket')
  })

  it('peerup status --json reports identity, addresses, relay reservation and peers', { timeout: 60_000 }, async () => {
    const r = await mesh.client$(['status', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout.toString()) as DaemonStatus
    assert.equal(s.peerId, mesh.client.peerId)
    assert.equal(s.role, 'client')
    assert.equal(s.network, 'grewal')
    assert.equal(s.pid, clientDaemon.child.pid)
    assert.ok(s.addresses.some(a => a.startsWith('/ip4/127.0.0.1/tcp/')), JSON.stringify(s.addresses))
    assert.ok(s.addresses.some(a => a.includes('/p2p-circuit')), 'the relay address is announced')
    assert.equal(s.relays.length, 1)
    assert.deepEqual([s.relays[0].addr, s.relays[0].connected, s.relays[0].reserved], [mesh.relayAddr, true, true])
    const relayPeer = s.peers.find(p => p.peerId === mesh.relay.peerId)
    assert.ok(relayPeer != null && relayPeer.relay && relayPeer.path === 'direct', JSON.stringify(s.peers))
    assert.equal(s.metricsListen, `127.0.0.1:${metricsPort}`)
    assert.deepEqual(s.gateways, { socks: null, dns: null, tun: null, vip: null })
    assert.equal(s.tun, null)
    assert.ok(s.rssBytes > 0)
    // the human form has the same facts in columns
    const text = await mesh.client$(['status'])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout.toString(), new RegExp(`peerup client laptop\\.grewal ${mesh.client.peerId}`))
    assert.match(text.stdout.toString(), /RELAY\s+CONNECTED\s+RESERVED/)
    // the home daemon answers too, and lists its services
    const home = await h.run(['--config', mesh.home.config, 'status', '--json'])
    assert.equal(home.code, 0, home.stderr)
    const hs = JSON.parse(home.stdout.toString()) as DaemonStatus
    assert.equal(hs.peerId, mesh.home.peerId)
    assert.deepEqual(hs.services.map(x => x.name).sort(), ['banner', 'echo', 'halfclose', 'rst'])
  })

  for (const path of ['direct', 'relay'] as const) {
    it(`${path}: nc through the daemon is byte-exact with 8 MiB each way, and /metrics counts it`, { timeout: 120_000 }, async () => {
      const before = await metrics()
      const data = payload(8 * MiB)
      const r = await nc('echo', data, [], path)
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stderr, new RegExp(`nc: home.grewal \\(${mesh.home.peerId}\\) echo ${path === 'direct' ? 'direct' : 'relayed via \\S+'} \\(daemon\\)`))
      assert.equal(r.stdout.length, data.length)
      assert.equal(sha256(r.stdout), sha256(data))
      const after = await metrics()
      const d = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0)
      assert.equal(d('peerup_tunnels_total{direction="outbound"}'), 1)
      assert.equal(d(`peerup_dials_total{path="${path === 'direct' ? 'direct' : 'relayed'}"}`), 1)
      assert.equal(d('peerup_tunnel_sent_bytes_total{direction="outbound"}'), 8 * MiB)
      assert.equal(d('peerup_tunnel_received_bytes_total{direction="outbound"}'), 8 * MiB)
      assert.equal(after.get('peerup_tunnels_open{direction="outbound"}'), 0)
      assert.equal(d('peerup_tunnels_reset_total{direction="outbound"}'), 0)
      // status: the home is a connected peer on that path
      const s = await client().status()
      const home = s.peers.find(p => p.peerId === mesh.home.peerId)
      assert.ok(home != null, JSON.stringify(s.peers))
      if (path === 'direct') assert.equal(home.path, 'direct')
      assert.ok(s.bytes.in >= 8 * MiB && s.bytes.out >= 8 * MiB)
    })
  }

  it('half-close both ways: request + EOF gets the whole response; an early banner + FIN still takes our data', { timeout: 120_000 }, async () => {
    const request = payload(1 * MiB)
    const r = await nc('halfclose', request)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /\(daemon\)/)
    assert.equal(sha256(r.stdout), sha256(RESPONSE))
    assert.equal(sha256(served.halfclose.at(-1)!), sha256(request))
    const upload = payload(2 * MiB)
    const b = await nc('banner', upload)
    assert.equal(b.code, 0, b.stderr)
    assert.deepEqual(b.stdout, BANNER)
    const got = await pollUntil(async () => served.banner.length, n => n > 0, 10_000)
    assert.equal(got, 1)
    assert.equal(sha256(served.banner[0]), sha256(upload))
  })

  it('a service RST stays a reset through the daemon: exit 1 and a reset counted', { timeout: 60_000 }, async () => {
    const before = await metrics()
    const r = await nc('rst', payload(4 * MiB))
    assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`)
    assert.match(r.stderr, /\(daemon\)/)
    assert.match(r.stderr, /^peerup: .*reset/m)
    const after = await metrics()
    assert.equal((after.get('peerup_tunnels_reset_total{direction="outbound"}') ?? 0) - (before.get('peerup_tunnels_reset_total{direction="outbound"}') ?? 0), 1)
  })

  it('daemon errors keep their exit codes: unknown name → 4, unknown service → 4', { timeout: 60_000 }, async () => {
    const r = await h.run(['--config', mesh.client.config, 'nc', 'nosuch.grewal', 'echo'], { input: 'x', timeoutMs: 30_000 })
    assert.equal(r.code, 4, r.stderr)
    assert.match(r.stderr, /^peerup: .*nosuch\.grewal/m)
    const s = await nc('nosuchservice', Buffer.from('x'))
    assert.equal(s.code, 4, s.stderr)
    assert.match(s.stderr, /does not offer service "nosuchservice"/)
    const denied = await metrics()
    assert.ok((denied.get('peerup_dial_failures_total{reason="NameNotFoundError"}') ?? 0) >= 1)
  })

  it('/metrics on daemon.metrics_listen is the same text; the home counts inbound tunnels', { timeout: 30_000 }, async () => {
    const r = await httpGet(`http://127.0.0.1:${metricsPort}/metrics`)
    assert.equal(r.code, 200)
    const m = parseMetrics(r.body)
    assert.ok((m.get('peerup_tunnels_total{direction="outbound"}') ?? 0) >= 5, r.body)
    assert.equal(m.get(`peerup_relay_reservation{relay="${mesh.relayAddr}"}`), 1)
    assert.match(r.body, /# TYPE peerup_auth_denials_total counter/)
    assert.equal((await httpGet(`http://127.0.0.1:${metricsPort}/v1/status`)).code, 404, 'only /metrics on TCP')
    const home = parseMetrics(await createControlClient({ socketPath: join(mesh.home.dir, 'peerup.sock') }).metrics())
    assert.ok((home.get('peerup_tunnels_total{direction="inbound"}') ?? 0) >= 5)
    assert.ok((home.get('peerup_tunnel_received_bytes_total{direction="inbound"}') ?? 0) >= 16 * MiB)
  })

  it('--no-daemon dials in process even with a daemon running', { timeout: 60_000 }, async () => {
    const data = payload(256 * 1024)
    const r = await nc('echo', data, ['--no-daemon'])
    assert.equal(r.code, 0, r.stderr)
    assert.doesNotMatch(r.stderr, /\(daemon\)/)
    assert.match(r.stderr, /nc: home.grewal/)
    assert.equal(sha256(r.stdout), sha256(data))
  })

  it('a second daemon for the same config is refused (exit 2)', { timeout: 60_000 }, async () => {
    const r = await h.run(['--config', mesh.client.config, 'daemon'], { timeoutMs: 30_000 })
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /another peerup daemon is running for this config/)
    assert.equal(existsSync(sock), true, 'the first daemon keeps its socket')
    assert.equal((await client().status()).pid, clientDaemon.child.pid)
  })

  it('peerup gateway beside the running daemon is refused before it starts anything, with both fixes (exit 2)', { timeout: 60_000 }, async () => {
    const cfg = mesh.client.config
    const all = await h.run(['--config', cfg, 'gateway'], { timeoutMs: 30_000 })
    assert.equal(all.code, 2, all.stderr)
    assert.equal(all.stdout.length, 0, 'nothing started: no addresses, no "ready"')
    const line = all.stderr.trim()
    assert.equal(line.split('\n').length, 1, line)
    assert.match(line, new RegExp(`^peerup: a peerup daemon \\(pid ${clientDaemon.child.pid}\\) already runs for ${cfg} with no gateways`))
    assert.match(line, /stop that daemon and run "peerup gateway" again/)
    assert.match(line, /add "gateway: \{socks: \{listen: 127\.0\.0\.1:1080\}, dns: \{listen: 127\.0\.0\.1:5353\}\}" to .* and restart the daemon: "peerup daemon" runs the gateways of that section/)
    // the suggested section is what the flags asked for
    const some = await h.run(['--config', cfg, 'gateway', '--socks', '127.0.0.1:1081', '--tun'], { timeoutMs: 30_000 })
    assert.equal(some.code, 2, some.stderr)
    assert.match(some.stderr, /add "gateway: \{socks: \{listen: 127\.0\.0\.1:1081\}, tun: \{\}\}"/)
    // the daemon is untouched
    assert.equal(existsSync(sock), true)
    assert.equal((await client().status()).pid, clientDaemon.child.pid)
  })

  it('no daemon: status exits 4, nc falls back in process; a stale socket is replaced; an unsafe dir is refused', { timeout: 120_000 }, async () => {
    clientDaemon.kill('SIGKILL')
    await clientDaemon.exited
    assert.equal(lstatSync(sock).isSocket(), true, 'SIGKILL leaves a stale socket behind')
    const st = await mesh.client$(['status'])
    assert.equal(st.code, 4, st.stderr)
    assert.match(st.stderr, /^peerup: no peerup daemon is running for this config .*nobody listening/m)
    const data = payload(1 * MiB)
    const r = await nc('echo', data)
    assert.equal(r.code, 0, r.stderr)
    assert.doesNotMatch(r.stderr, /\(daemon\)/)
    assert.equal(sha256(r.stdout), sha256(data))
    // a group-writable config dir: no socket there
    chmodSync(mesh.client.dir, 0o775)
    const unsafe = await h.run(['--config', mesh.client.config, 'daemon'], { timeoutMs: 30_000 })
    chmodSync(mesh.client.dir, 0o755)
    assert.equal(unsafe.code, 2, unsafe.stderr)
    assert.match(unsafe.stderr, /writable by group or others .*chmod go-w/)
    // a new daemon replaces the stale socket
    clientDaemon = await startClientDaemon()
    assert.equal(statSync(sock).mode & 0o777, 0o600)
    const s = await client().status()
    assert.equal(s.pid, clientDaemon.child.pid)
    const again = await nc('echo', data)
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stderr, /\(daemon\)/)
    assert.equal(sha256(again.stdout), sha256(data))
    // a clean stop removes the socket
    clientDaemon.kill('SIGTERM')
    assert.equal(await clientDaemon.exited, 0)
    assert.equal(existsSync(sock), false)
    const none = await mesh.client$(['status', '--json'])
    assert.equal(none.code, 4)
    assert.match(none.stderr, /no such socket/)
    assert.equal(none.stdout.length, 0)
  })
})
