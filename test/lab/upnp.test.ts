/**
 * `network.upnp` against a real UPnP IGD: miniupnpd on the home router of the
 * netns NAT lab, no hand-made port forward. With `upnp: true` the home asks
 * the router for a mapping of its TCP listen port, announces the mapped
 * address, and the client behind its own NAT upgrades to a direct TCP path;
 * with the default `upnp: false` the router maps nothing and the path stays
 * relayed. UDP paths are off on both ends so that a direct path can only be
 * the mapped TCP port.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { editYamlFile } from '../../src/index.js'
import { Harness, pollUntil, type Proc } from '../fixtures/mesh.js'
import { startMiniupnpd, type Miniupnpd, type UpnpMapping } from '../fixtures/miniupnpd.js'
import { createLab, natTopology, NAT_LAB, type Lab, type NatTopology } from '../fixtures/netns.js'
import { LAB_HOME_PORT, labEcho, labMesh, lastJson, type LabMesh } from '../fixtures/lab-mesh.js'

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const WAN = NAT_LAB.routableHomeWan
const MAPPED = `/ip4/${WAN}/tcp/${LAB_HOME_PORT}`

describe('NAT lab: UPnP port mapping (miniupnpd)', { timeout: 240_000 }, () => {
  let lab: Lab
  let t: NatTopology
  let h: Harness
  let m: LabMesh
  let igd: Miniupnpd | undefined
  let homeProc: Proc | undefined
  /** How long the UPnP home took from start to a mapping on the router (ms). */
  let mappedAfterMs = 0

  before(async () => {
    lab = await createLab()
    // no port forward on the home router: only UPnP can open one
    t = await natTopology(lab, { homeWan: WAN })
    igd = await startMiniupnpd(lab, t.homeRouter, { wanIf: t.ifs.homeWan, lanIf: t.ifs.homeLan, lanNet: '192.168.1.0/24' })
    h = new Harness()
    m = await labMesh(h, t)
    for (const n of [m.home, m.client]) editYamlFile(n.config, doc => { doc.setIn(['paths', 'udp'], false) })
    await labEcho(t.home)
    await m.startRelay()
  })
  after(async () => {
    await h?.cleanup()
    await igd?.stop()
    await lab?.cleanup()
  })

  /** (Re)start the home daemon with `network.upnp` set to `upnp`. */
  async function restartHome (upnp: boolean): Promise<number> {
    if (homeProc != null) { homeProc.kill('SIGKILL'); await homeProc.exited }
    editYamlFile(m.home.config, doc => { doc.setIn(['network', 'upnp'], upnp) })
    const started = Date.now()
    homeProc = await m.startHome(m.home)
    return started
  }

  /** The home daemon's advertised addresses (`peerup status --json`). */
  async function homeAddresses (): Promise<string[]> {
    const r = await h.run(['--config', m.home.config, 'status', '--json'], { netns: t.home })
    assert.equal(r.code, 0, r.stderr)
    return lastJson(r).addresses
  }

  /** `peerup ping --json` from the client. */
  async function ping (args: string[]): Promise<{ json: any, ms: number, code: number | string, stderr: string }> {
    const started = Date.now()
    const r = await m.client$(['ping', 'home.grewal', '--json', ...args], { timeoutMs: 60_000 })
    return { json: r.stdout.length > 0 ? lastJson(r) : undefined, ms: Date.now() - started, code: r.code, stderr: r.stderr }
  }

  const homeMapping = (ms: UpnpMapping[]): UpnpMapping | undefined => ms.find(x => x.internalHost === NAT_LAB.home)

  it('upnp: true, no port forward: the router maps the listen port, the home announces it, the client gets direct-tcp', async () => {
    const started = await restartHome(true)
    const mappings = await pollUntil(async () => await igd!.mappings(), ms => homeMapping(ms) != null, 30_000, 250)
    mappedAfterMs = Date.now() - started
    assert.match(igd!.log(), /SSDP M-SEARCH from 192\.168\.1\.10/, 'the home found the router by SSDP')
    assert.deepEqual(mappings, [{ protocol: 'tcp', externalPort: LAB_HOME_PORT, internalHost: NAT_LAB.home, internalPort: LAB_HOME_PORT }],
      `the router should map exactly the home's TCP listen port: ${JSON.stringify(mappings)}\n${igd!.log().slice(-2000)}`)
    const addrs = await pollUntil(homeAddresses, a => a.some(x => x.startsWith(MAPPED + '/')), 15_000, 250)
    assert.ok(addrs.some(x => x.startsWith(MAPPED + '/')), `the home announces ${MAPPED}: ${JSON.stringify(addrs)}`)

    const p = await ping(['-c', '30', '--until-direct'])
    assert.equal(p.code, 0, p.stderr)
    assert.equal(p.json.class, 'direct-tcp', JSON.stringify(p.json))
    assert.equal(p.json.classes[0], 'relayed', 'the names file has no address: the first reply goes through the relay')
    console.log(`# upnp: mapping on the router ${mappedAfterMs} ms after the home started; direct-tcp after ${p.json.paths.length} pings, ping wall ${p.ms} ms, rtts ${p.json.rtts.join(' ')} ms`)

    // a real tunnel over the mapped port, byte for byte
    const data = randomBytes(1024 * 1024)
    const r = await m.client$(['nc', 'home.grewal', 'echo'], { input: data, timeoutMs: 60_000 })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha(r.stdout), sha(data), 'nc echo must come back byte-exact')
  })

  it('a home that stops (SIGTERM) removes its mapping from the router', async () => {
    assert.ok(homeMapping(await igd!.mappings()) != null, 'the previous test left a mapping')
    homeProc!.kill('SIGTERM')
    assert.equal(await homeProc!.exited, 0)
    homeProc = undefined
    const mappings = await pollUntil(async () => await igd!.mappings(), ms => ms.length === 0, 10_000, 250)
    assert.deepEqual(mappings, [])
  })

  it('upnp: false (the default): the router maps nothing, the home never looks for it, the path stays relayed', async () => {
    const searchesBefore = (igd!.log().match(/SSDP M-SEARCH from 192\.168\.1\.10/g) ?? []).length
    const started = await restartHome(false)
    // longer than the UPnP home took to get its mapping, with a margin
    const waitMs = Math.max(15_000, 2 * mappedAfterMs) - (Date.now() - started)
    if (waitMs > 0) await new Promise(resolve => setTimeout(resolve, waitMs))
    assert.deepEqual(await igd!.mappings(), [])
    assert.equal((igd!.log().match(/SSDP M-SEARCH from 192\.168\.1\.10/g) ?? []).length, searchesBefore, 'the home sent SSDP searches with upnp: false')
    const addrs = await homeAddresses()
    assert.ok(!addrs.some(x => x.includes(`/ip4/${WAN}/`)), `no mapped address announced: ${JSON.stringify(addrs)}`)
    const p = await ping(['-c', '3', '--until-direct'])
    assert.equal(p.code, 1, `no direct path: --until-direct exits 1 (${p.stderr})`)
    assert.deepEqual(p.json?.classes, ['relayed', 'relayed', 'relayed'])
  })

  it('a router that describes itself as IGDv1 only: nothing is mapped (@libp2p/upnp-nat looks for IGDv2), the path stays relayed', async () => {
    await igd!.stop()
    igd = await startMiniupnpd(lab, t.homeRouter, { wanIf: t.ifs.homeWan, lanIf: t.ifs.homeLan, lanNet: '192.168.1.0/24', igdV1: true })
    const started = await restartHome(true)
    const waitMs = Math.max(15_000, 2 * mappedAfterMs) - (Date.now() - started)
    if (waitMs > 0) await new Promise(resolve => setTimeout(resolve, waitMs))
    assert.match(igd.log(), /SSDP M-SEARCH from 192\.168\.1\.10/, 'the home looked for the router')
    assert.deepEqual(await igd.mappings(), [])
    const p = await ping(['-c', '3', '--until-direct'])
    assert.equal(p.code, 1, `no direct path: --until-direct exits 1 (${p.stderr})`)
    console.log(`# upnp against an IGDv1-only router: no mapping after ${Date.now() - started} ms, relayed`)
  })
})
