/**
 * Authorization through real peerup processes on loopback: deny-by-default
 * for peers not in authorized_keys (direct and relayed), per-service
 * allow-lists, expiry, revocation by editing the file (no restart), and
 * relay membership for reservations and circuits.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import {
  addAuthorizedKey, editYamlFile, loadConfig, removeAuthorizedKey, setServiceAuthorizedKeys
} from '../../src/index.js'
import {
  Harness, addClient, startMesh, echoServer, payload, sha256, writePrivate, pollUntil, type Mesh, type NodeDir, type RunResult
} from '../fixtures/mesh.js'

const REFUSED = [3, 4]
const DENY_PAYLOAD = Buffer.from('this must never reach the service\n')

/**
 * A non-zero exit with exactly one `peerup: …` line on stderr and nothing on
 * stdout. A refused connection is exit 3 (not authorized) or 4 (unreachable:
 * a relayed refusal is not told apart from a failure); a refused service
 * stream is a reset (any non-zero code).
 */
function assertDenied (r: RunResult, what: string, codes?: number[]): void {
  assert.notEqual(r.code, 0, `${what}: expected failure, got exit 0 (stdout ${r.stdout.length} bytes)`)
  assert.equal(typeof r.code, 'number', `${what}: exited by signal ${String(r.code)} (timeout?) stderr=${r.stderr}`)
  if (codes != null) assert.ok(codes.includes(r.code as number), `${what}: exit ${r.code}, expected one of ${codes.join(', ')}: ${r.stderr}`)
  const lines = r.stderr.split('\n').filter(l => l !== '')
  assert.equal(lines.length, 1, `${what}: expected one stderr line, got ${JSON.stringify(r.stderr)}`)
  assert.match(lines[0], /^peerup: /, what)
  assert.equal(r.stdout.length, 0, `${what}: no bytes may come back`)
  console.log(`${what}: exit ${r.code}: ${lines[0]}`)
}

describe('authorized_keys enforcement through real processes', () => {
  const h = new Harness()
  let mesh: Mesh
  let web: { port: number, connections: () => number }
  let ssh: { port: number, connections: () => number }
  /** Relay member, has the home in its own list, but is not in the home's. */
  let intruder: NodeDir
  /** In the home's ssh list only; not a relay member. */
  let outsider: NodeDir
  /** In the home's global list with an expiry in the past. */
  let visitor: NodeDir
  let relayAddr: string
  let homeAddr: string

  const nc = async (who: NodeDir, service: string, path: 'auto' | 'direct' | 'relay', data: Buffer = DENY_PAYLOAD): Promise<RunResult> =>
    await h.run(['--config', who.config, 'nc', 'home.grewal', service, '--path', path], { input: data, timeoutMs: 30_000 })
  const homeCli = async (args: string[]): Promise<RunResult> => await h.run(['--config', mesh.home.config, ...args], { timeoutMs: 30_000 })

  const extraClient = async (name: string, relay: NodeDir, home: NodeDir, o: { relayMember: boolean }): Promise<NodeDir> =>
    await addClient({ h, relay, home, relayAddr, homeAddr }, name, o)

  before(async () => {
    web = await echoServer(h)
    ssh = await echoServer(h)
    mesh = await startMesh(h, {
      services: { web: web.port, ssh: ssh.port },
      beforeStart: async ({ relay, home }) => {
        const cfg = loadConfig(home.config).config
        relayAddr = cfg.relays[0]
        homeAddr = `${cfg.network.listen![0]}/p2p/${home.peerId}`
        // ssh overrides the global list with its own, which does not list the laptop
        writePrivate(join(home.dir, 'ssh_authorized_keys'), '# admin workstations only\n')
        setServiceAuthorizedKeys(home.config, 'ssh', 'ssh_authorized_keys')
        intruder = await extraClient('intruder', relay, home, { relayMember: true })
        outsider = await extraClient('outsider', relay, home, { relayMember: false })
        addAuthorizedKey(join(home.dir, 'ssh_authorized_keys'), outsider.peerId, { comment: 'outsider: ssh only' })
        visitor = await extraClient('visitor', relay, home, { relayMember: true })
        addAuthorizedKey(join(home.dir, 'authorized_keys'), visitor.peerId, { comment: 'visitor', expires: '2020-01-01T00:00:00Z' })
      }
    })
  })
  after(async () => { await h.cleanup() })

  it('the authorized laptop reaches web byte-exact on both paths', async () => {
    const data = payload(256 * 1024)
    const [direct, relayed] = await Promise.all([nc(mesh.client, 'web', 'direct', data), nc(mesh.client, 'web', 'relay', data)])
    for (const r of [direct, relayed]) {
      assert.equal(r.code, 0, r.stderr)
      assert.equal(sha256(r.stdout), sha256(data))
    }
  })

  it('a peer not in authorized_keys is denied directly and via the relay, and the service sees nothing', async () => {
    const before = web.connections()
    assertDenied(await nc(intruder, 'web', 'direct'), 'intruder direct', REFUSED)
    assertDenied(await nc(intruder, 'web', 'relay'), 'intruder via relay', REFUSED)
    assert.equal(web.connections(), before, 'no connection reached the service')

    // control: the same peer, once authorized (no restart), gets through
    const add = await homeCli(['auth', 'add', intruder.peerId, '--comment', 'intruder, now trusted'])
    assert.equal(add.code, 0, add.stderr)
    const data = payload(64 * 1024)
    const r = await pollUntil(async () => await nc(intruder, 'web', 'direct', data), r => r.code === 0, 10_000)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha256(r.stdout), sha256(data))
  })

  it('a service with its own authorized_keys overrides the global list', async () => {
    const data = payload(128 * 1024)
    const ok = await nc(mesh.client, 'web', 'auto', data)
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal(sha256(ok.stdout), sha256(data))

    const sshBefore = ssh.connections()
    assertDenied(await nc(mesh.client, 'ssh', 'direct'), 'laptop ssh direct')
    assertDenied(await nc(mesh.client, 'ssh', 'relay'), 'laptop ssh via relay')
    assert.equal(ssh.connections(), sshBefore, 'the ssh canary saw no connection')

    // the other way round: a peer only in ssh's list may use ssh but not web
    const webBefore = web.connections()
    const sshOk = await nc(outsider, 'ssh', 'direct', data)
    assert.equal(sshOk.code, 0, sshOk.stderr)
    assert.equal(sha256(sshOk.stdout), sha256(data))
    assert.equal(ssh.connections(), sshBefore + 1)
    assertDenied(await nc(outsider, 'web', 'direct'), 'outsider web')
    assert.equal(web.connections(), webBefore, 'web saw no connection from the outsider')
  })

  it('an expired key is denied; a future expiry is allowed', async () => {
    const before = web.connections()
    assertDenied(await nc(visitor, 'web', 'direct'), 'visitor with expired key', REFUSED)
    assertDenied(await nc(visitor, 'web', 'relay'), 'visitor with expired key, via relay', REFUSED)
    assert.equal(web.connections(), before)

    const file = join(mesh.home.dir, 'authorized_keys')
    assert.equal(removeAuthorizedKey(file, visitor.peerId), true)
    const future = new Date(Date.now() + 24 * 3600_000).toISOString().replace(/\.\d+Z$/, 'Z')
    assert.equal(addAuthorizedKey(file, visitor.peerId, { comment: 'visitor', expires: future }), true)
    const data = payload(64 * 1024)
    const r = await pollUntil(async () => await nc(visitor, 'web', 'direct', data), r => r.code === 0, 10_000)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha256(r.stdout), sha256(data))
  })

  it('a non-member cannot use the relay even if the home trusts it', async () => {
    // outsider is in the home's (ssh) list but not in the relay's members
    const before = ssh.connections()
    assertDenied(await nc(outsider, 'ssh', 'relay'), 'non-member via relay', REFUSED)
    assert.equal(ssh.connections(), before)
    const direct = await nc(outsider, 'ssh', 'direct', Buffer.from('hi'))
    assert.equal(direct.code, 0, direct.stderr)
    assert.equal(direct.stdout.toString(), 'hi')
  })

  it('a non-member home never gets a reservation (and keeps running)', async () => {
    const rogue = await h.initNode('rogue', 'home')
    editYamlFile(rogue.config, doc => { doc.set('relays', doc.createNode([relayAddr])) })
    const proc = h.start(['--config', rogue.config, 'daemon'])
    await proc.waitFor(/^ready$/m)
    const [line] = await proc.waitFor(/no reservation on relay .*\(retrying\)/, 10_000)
    console.log(`non-member home: ${line}`)
    assert.doesNotMatch(line, /\[object /, 'a readable reason')
    assert.match(line, /member/, 'the reason points at relay membership')
    // give the watchdog several retries (backoff starts at 0.5 s)
    await new Promise(resolve => setTimeout(resolve, 4000))
    assert.doesNotMatch(proc.stderr(), /^reserved on relay/m)
    assert.equal(proc.child.exitCode, null, 'the daemon keeps running')

    // control: once a member, the same daemon reserves without a restart
    const add = await h.run(['--config', mesh.relay.config, 'auth', 'add', rogue.peerId, '--comment', 'rogue, now a member'])
    assert.equal(add.code, 0, add.stderr)
    const t0 = Date.now()
    await proc.waitFor(/^reserved on relay/m, 20_000)
    console.log(`rogue home reserved ${Date.now() - t0} ms after becoming a member`)
    proc.kill('SIGTERM')
    await proc.exited
  })

  it('removing a key revokes without restart: new tunnels fail, open tunnels (direct and relayed) are cut within 5 s', async () => {
    const open = (['direct', 'relay'] as const).map(path => {
      const p = h.start(['--config', mesh.client.config, 'nc', 'home.grewal', 'web', '--path', path], { stdin: 'pipe' })
      p.child.stdin!.write(`ping ${path}\n`)
      return { path, p }
    })
    for (const { path, p } of open) await p.waitFor(new RegExp(`ping ${path}`), 15_000)

    const t0 = Date.now()
    const rm = await homeCli(['auth', 'remove', mesh.client.peerId])
    assert.equal(rm.code, 0, rm.stderr)
    assert.match(rm.stderr, /removed/)
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise(resolve => { timer = setTimeout(() => { resolve('still open') }, Math.max(0, 5000 - (Date.now() - t0))) })
    const codes = await Promise.all(open.map(async ({ p }) => await Promise.race([p.exited, deadline])))
    clearTimeout(timer)
    const cutMs = Date.now() - t0
    for (const [i, { path, p }] of open.entries()) {
      assert.notEqual(codes[i], 'still open', `the open ${path} tunnel was not cut within 5 s`)
      assert.notEqual(codes[i], 0, `a cut ${path} tunnel is not a clean exit`)
      console.log(`open ${path} tunnel cut (all within ${cutMs} ms of "auth remove" starting; exit ${String(codes[i])}: ${p.stderr().trim()})`)
    }

    const denied = await pollUntil(async () => await nc(mesh.client, 'web', 'direct'), r => r.code !== 0, 10_000)
    console.log(`new tunnel refused ${Date.now() - t0} ms after "auth remove" started`)
    const before = web.connections()
    assertDenied(denied, 'revoked laptop', REFUSED)
    assertDenied(await nc(mesh.client, 'web', 'relay'), 'revoked laptop via relay', REFUSED)
    assert.equal(web.connections(), before)
  })
})
