/**
 * Path class per NAT topology (as Tailscale's natlab does), with real CLI
 * processes in network namespaces: the relay on 203.0.113.10, the home behind
 * its NAT router, the client behind another; `peerup ping --json` says which
 * path a reply took, and real TCP tunnels to an echo service are checked
 * byte for byte.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { addNameToFile, editYamlFile, removeNameFromFile } from '../../src/index.js'
import { Harness, pollUntil, type Proc } from '../fixtures/mesh.js'
import { createLab, natTopology, NAT_LAB, type Lab, type NatTopology } from '../fixtures/netns.js'
import { LAB_HOME_PORT, labClient, labEcho, labMesh, lastJson, relayCircuits, type LabMesh } from '../fixtures/lab-mesh.js'

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describe('NAT lab: path classes', { timeout: 240_000 }, () => {
  let lab: Lab
  let t: NatTopology
  let h: Harness
  let m: LabMesh
  let relayProc: Proc
  let homeProc: Proc | undefined

  before(async () => {
    lab = await createLab()
    // the home router forwards TCP 4001 to the home; a second home sits on the client's LAN
    t = await natTopology(lab, { home: { forwards: [{ proto: 'tcp', port: LAB_HOME_PORT, to: NAT_LAB.home }] }, lanPeer: true })
    h = new Harness()
    m = await labMesh(h, t)
    lab.hosts(t.client, { 'home.lab.example': NAT_LAB.homeWan })
    await labEcho(t.home)
    await labEcho(t.lanPeer!)
    relayProc = await m.startRelay()
  })
  after(async () => {
    await h?.cleanup()
    await lab?.cleanup()
  })

  /** (Re)start the home daemon with `announce` as its `network.announce`. */
  async function restartHome (announce: string[]): Promise<void> {
    if (homeProc != null) { homeProc.kill('SIGKILL'); await homeProc.exited }
    editYamlFile(m.home.config, doc => { doc.setIn(['network', 'announce'], doc.createNode(announce)) })
    const started = Date.now()
    homeProc = await m.startHome(m.home)
    console.log(`# home (announce ${JSON.stringify(announce)}) reserved ${Date.now() - started} ms after start`)
  }

  /** `peerup ping` from the client; returns the parsed JSON and the wall time. */
  async function ping (target: string, args: string[] = []): Promise<{ json: any, ms: number, code: number | string, stderr: string }> {
    const started = Date.now()
    const r = await m.client$(['ping', target, '--json', ...args], { timeoutMs: 60_000 })
    const ms = Date.now() - started
    return { json: r.code === 0 || r.stdout.length > 0 ? lastJson(r) : undefined, ms, code: r.code, stderr: r.stderr }
  }

  /** A 1 MiB round trip through `peerup nc` to the target's echo service. */
  async function ncRoundTrip (target: string): Promise<void> {
    const data = randomBytes(1024 * 1024)
    const r = await m.client$(['nc', target, 'echo'], { input: data, timeoutMs: 60_000 })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha(r.stdout), sha(data), 'nc echo must come back byte-exact')
  }

  it('both behind NAT: ping and tunnels work, relayed', async () => {
    await restartHome([])
    const p = await ping('home.grewal', ['-c', '5'])
    assert.equal(p.code, 0, p.stderr)
    assert.equal(p.json.path, 'relayed')
    assert.deepEqual(p.json.paths, ['relayed', 'relayed', 'relayed', 'relayed', 'relayed'])
    assert.equal(p.json.relay, m.relay.peerId)
    console.log(`# both NAT: ping -c 5 wall ${p.ms} ms, rtts ${p.json.rtts.join(' ')} ms (relayed)`)
    await ncRoundTrip('home.grewal')

    // the home listens on 0.0.0.0: it announces its LAN address, never its loopback one,
    // and the relay tier hands the client no loopback address to dial
    const announced = homeProc!.stdout().split('\n').filter(l => l.startsWith('/'))
    assert.ok(announced.some(a => a.startsWith(`/ip4/${NAT_LAB.home}/tcp/${LAB_HOME_PORT}`)), `the home announces its LAN address: ${announced.join(' ')}`)
    assert.ok(!announced.some(a => /^\/ip[46]\/(127\.|::1\/)/.test(a)), `the home announces no loopback address: ${announced.join(' ')}`)
    // ask the relay tier: without the names-file entry, and with no cached answer
    const names = join(m.client.dir, 'names.yaml')
    removeNameFromFile(names, 'home.grewal')
    rmSync(join(m.client.dir, '.cache'), { recursive: true, force: true })
    let resolved
    try {
      resolved = await m.client$(['resolve', 'home.grewal', '--json'])
    } finally {
      addNameToFile(names, 'home.grewal', m.home.peerId, [])
    }
    assert.equal(resolved.code, 0, resolved.stderr)
    const r = lastJson(resolved)
    assert.equal(r.source, 'network')
    console.log(`# both NAT: resolve home.grewal (relay tier): ${r.addrs.join(' ')}`)
    assert.ok(r.addrs.length > 0, 'the relay knows an address of the home')
    assert.ok(r.addrs.every((a: string) => !/^\/ip[46]\/(127\.|::1\/)/.test(a)), `no loopback address from the relay tier: ${r.addrs.join(' ')}`)

    const until = await ping('home.grewal', ['-c', '3', '--until-direct'])
    assert.equal(until.code, 1, 'no direct path: --until-direct exits 1')
    assert.match(until.stderr, /no direct path/)
  })

  it('home with a port forward and an announced /ip4 address: upgraded to direct, the relayed connection closed', async () => {
    await restartHome([`/ip4/${NAT_LAB.homeWan}/tcp/${LAB_HOME_PORT}`])
    const p = await ping('home.grewal', ['-c', '30', '--until-direct'])
    assert.equal(p.code, 0, p.stderr)
    assert.equal(p.json.path, 'direct')
    // the names file has no address: the first reply goes through the relay, then the node dials the announced address
    assert.equal(p.json.paths[0], 'relayed')
    console.log(`# port forward (/ip4 announce): direct after ${p.json.paths.length} pings, ping wall ${p.ms} ms, rtts ${p.json.rtts.join(' ')} ms`)

    // a long-lived proxy: once upgraded, its relayed connection (the relay's circuit) goes away and tunnels are direct
    const proxy = m.clientStart(['proxy', 'home.grewal', 'echo', '0'])
    const port = Number((await proxy.waitFor(/^proxy 127\.0\.0\.1:(\d+)/m, 30_000))[1])
    await proxy.waitFor(/^ready$/m, 30_000)
    const circuits = await pollUntil(async () => await relayCircuits(relayProc), n => n === 0, 20_000, 500)
    assert.equal(circuits, 0, 'the relay still splices a circuit: the relayed connection was not closed')
    const c = await labClient(t.client, port)
    try {
      const r = await c.roundTrip(1024 * 1024)
      assert.equal(r.received, r.sent)
      assert.equal(await relayCircuits(relayProc), 0, 'a tunnel opened after the upgrade must not use the relay')
    } finally {
      c.kill()
      proxy.kill('SIGTERM')
      await proxy.exited
    }
  })

  it('home announcing a /dns4 name (resolved from /etc/hosts through getaddrinfo): direct', async () => {
    await restartHome([`/dns4/home.lab.example/tcp/${LAB_HOME_PORT}`])
    const p = await ping('home.grewal', ['-c', '30', '--until-direct'])
    assert.equal(p.code, 0, p.stderr)
    assert.equal(p.json.path, 'direct')
    console.log(`# port forward (/dns4 announce): direct after ${p.json.paths.length} pings, rtts ${p.json.rtts.join(' ')} ms`)
    await ncRoundTrip('home.grewal')
  })

  it('client and home on the same LAN: direct', async () => {
    const lanProc = await m.startHome(m.lanHome!)
    try {
      const p = await ping('lan.grewal', ['-c', '30', '--until-direct'])
      assert.equal(p.code, 0, p.stderr)
      assert.equal(p.json.path, 'direct')
      console.log(`# same LAN: direct after ${p.json.paths.length} pings, rtts ${p.json.rtts.join(' ')} ms`)
      await ncRoundTrip('lan.grewal')
    } finally {
      lanProc.kill('SIGKILL')
      await lanProc.exited
    }
  })

  it('relay unreachable, direct address in the names file: direct still works', async () => {
    addNameToFile(join(m.client.dir, 'names.yaml'), 'fwd.grewal', m.home.peerId, [`/ip4/${NAT_LAB.homeWan}/tcp/${LAB_HOME_PORT}`])
    await lab.setLink(t.inet, t.ifs.inetToRelay, false)
    try {
      const p = await ping('fwd.grewal', ['-c', '3'])
      assert.equal(p.code, 0, p.stderr)
      assert.equal(p.json.path, 'direct')
      assert.deepEqual(p.json.paths, ['direct', 'direct', 'direct'])
      console.log(`# relay cut, names-file address: ping -c 3 wall ${p.ms} ms, rtts ${p.json.rtts.join(' ')} ms (direct)`)
      await ncRoundTrip('fwd.grewal')
    } finally {
      await lab.setLink(t.inet, t.ifs.inetToRelay, true)
    }
  })
})
