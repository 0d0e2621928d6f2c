/**
 * Refusals say what to do (real processes on loopback): our own allow-list,
 * a relay that does not accept us, a service that exists but is not ours to
 * use, `auth remove` of a peer that only a service's list has, and refused
 * tunnels through `peerup proxy`, logged on both ends at most once per peer
 * and service per 10 s, with a count.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { addAuthorizedKey, addNameToFile, removeAuthorizedKey } from '../../src/index.js'
import {
  Harness, addClient, dial, echoServer, freePort, mark, payload, pollUntil, sha256, startMesh, waitForNew,
  type Mesh, type NodeDir, type RunResult
} from '../fixtures/mesh.js'
import { observe } from '../fixtures/sockets.js'

/** Exactly one stderr line, nothing on stdout, exit `code`; returns the line. */
function oneLine (r: RunResult, code: number, what: string): string {
  assert.equal(r.code, code, `${what}: exit ${String(r.code)}, expected ${code}: ${r.stderr}`)
  const lines = r.stderr.split('\n').filter(l => l !== '')
  assert.equal(lines.length, 1, `${what}: expected one stderr line, got ${JSON.stringify(r.stderr)}`)
  assert.equal(r.stdout.length, 0, `${what}: nothing on stdout`)
  console.log(`${what}: exit ${code}: ${lines[0]}`)
  return lines[0]
}

describe('refusal messages say what to do (real processes)', () => {
  const h = new Harness()
  let mesh: Mesh
  let web: { port: number, connections: () => number }
  let ssh: { port: number, connections: () => number }
  /** Used by the proxy test only (its own 10 s report window at the home). */
  let db: { port: number, connections: () => number }

  const nc = async (who: NodeDir, target: string, service: string, args: string[] = []): Promise<RunResult> =>
    await h.run(['--config', who.config, 'nc', target, service, ...args], { input: 'never to arrive\n', timeoutMs: 30_000 })
  const homeCli = async (args: string[]): Promise<RunResult> => await h.run(['--config', mesh.home.config, ...args], { timeoutMs: 30_000 })

  before(async () => {
    web = await echoServer(h)
    ssh = await echoServer(h)
    db = await echoServer(h)
    mesh = await startMesh(h, { services: { web: web.port, ssh: ssh.port, db: db.port } })
  })
  after(async () => { await h.cleanup() })

  it('our own allow-list refuses the dial: name the peer and the command (exit 3)', async () => {
    const lonely = await addClient(mesh, 'lonely')
    // the home trusts it, but it does not trust the home
    assert.equal(removeAuthorizedKey(join(lonely.dir, 'authorized_keys'), mesh.home.peerId), true)
    addAuthorizedKey(join(mesh.home.dir, 'authorized_keys'), lonely.peerId, { comment: 'lonely' })
    const line = oneLine(await nc(lonely, 'home.grewal', 'web'), 3, 'home not in our authorized_keys')
    assert.equal(line, `peerup: home.grewal is not in your authorized_keys; run: peerup auth add ${mesh.home.peerId}`)
    const byId = oneLine(await nc(lonely, mesh.home.peerId, 'web'), 3, 'home (by peer ID) not in our authorized_keys')
    assert.equal(byId, `peerup: ${mesh.home.peerId} is not in your authorized_keys; run: peerup auth add ${mesh.home.peerId}`)
  })

  it('a relay that does not accept us: not a member, ask its operator (exit 3)', async () => {
    const stranger = await addClient(mesh, 'stranger', { relayMember: false })
    addAuthorizedKey(join(mesh.home.dir, 'authorized_keys'), stranger.peerId, { comment: 'stranger' })
    // a direct address that goes nowhere: only the relay could help
    addNameToFile(join(stranger.dir, 'names.yaml'), 'home.grewal', mesh.home.peerId, [`/ip4/127.0.0.1/tcp/${await freePort()}`])
    const want = `not a member of relay ${mesh.relayAddr}; ask its operator to run on the relay: peerup auth add ${stranger.peerId}`
    for (const path of ['relay', 'auto']) {
      const line = oneLine(await nc(stranger, 'home.grewal', 'web', ['--path', path]), 3, `non-member, --path ${path}`)
      assert.ok(line.includes(want), `--path ${path}: ${line}\nlacks: ${want}`)
      assert.doesNotMatch(line, /All multiaddr dials failed|\[object /)
    }
  })

  it('auth remove of a peer that only a service\'s list has: name the service (exit 4)', async () => {
    const add = await homeCli(['auth', 'add', mesh.client.peerId, '--service', 'web', '--comment', 'laptop'])
    assert.equal(add.code, 0, add.stderr)
    const rm = await homeCli(['auth', 'remove', mesh.client.peerId])
    assert.equal(rm.code, 0, rm.stderr)
    assert.match(rm.stderr, /^removed /)
    const again = oneLine(await homeCli(['auth', 'remove', mesh.client.peerId]), 4, 'auth remove of a peer on web\'s list only')
    assert.match(again, new RegExp(`^peerup: ${mesh.client.peerId} is not in .*/authorized_keys; it is on the allow-list of service web \\(web_authorized_keys\\): run: peerup auth remove ${mesh.client.peerId} --service web$`))
    // nowhere at all: nothing to do, and it says so (exit 0)
    const nobody = await addClient(mesh, 'nobody')
    const none = await homeCli(['auth', 'remove', nobody.peerId])
    assert.equal(none.code, 0, none.stderr)
    assert.match(none.stderr, /was not in .*authorized_keys/)
  })

  it('a service that exists but is not ours to use is told apart from one that does not exist (exit 3 vs 4)', async () => {
    // the laptop is now only on web's own list; ssh uses the global list
    const data = payload(16 * 1024)
    const ok = await pollUntil(async () => await h.run(['--config', mesh.client.config, 'nc', 'home.grewal', 'web'], { input: data, timeoutMs: 30_000 }), r => r.code === 0, 10_000)
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal(sha256(ok.stdout), sha256(data))

    const before = ssh.connections()
    const byPort = oneLine(await nc(mesh.client, 'home.grewal', String(ssh.port)), 3, 'nc by port to ssh')
    assert.equal(byPort, `peerup: home.grewal has a service on port ${ssh.port} (ssh) but does not let you use it; ask its owner to run: peerup auth add ${mesh.client.peerId}`)
    const byName = oneLine(await nc(mesh.client, 'home.grewal', 'ssh'), 3, 'nc by name to ssh')
    assert.equal(byName, `peerup: home.grewal does not let you use its service ssh; ask its owner to run: peerup auth add ${mesh.client.peerId}`)
    assert.equal(ssh.connections(), before, 'ssh saw nothing')

    const missing = oneLine(await nc(mesh.client, 'home.grewal', '9'), 4, 'nc to a port nobody serves')
    assert.equal(missing, `peerup: home.grewal has no service for port 9; its services: web (port ${web.port})`)
  })

  it('refused tunnels through peerup proxy: one line per peer and service per 10 s on both ends, with a count', { timeout: 60_000 }, async () => {
    const proxy = h.start(['--config', mesh.client.config, 'proxy', 'home.grewal', 'db', '0'])
    const port = Number((await proxy.waitFor(/^proxy 127\.0\.0\.1:(\d+)/m, 20_000))[1])
    await proxy.waitFor(/^ready$/m, 20_000)
    const fromProxy = mark(proxy)
    const fromHome = mark(mesh.homeProc)
    const t0 = Date.now()
    const before = db.connections()
    for (let i = 0; i < 3; i++) {
      const s = await dial(port)
      const o = observe(s)
      s.write('hello\n')
      const seen = await o.settled(15_000)
      assert.equal(seen.received.length, 0, 'no byte comes back through a refused tunnel')
      s.destroy()
    }
    assert.equal(db.connections(), before, 'db saw nothing')
    const proxyLine = `proxy: tunnel to home.grewal db refused: home.grewal does not let you use its service db; ask its owner to run: peerup auth add ${mesh.client.peerId}`
    const homeLine = `daemon: denied ${mesh.client.peerId} (laptop) the service db: not in authorized_keys`
    await waitForNew(proxy, /tunnel to home\.grewal db refused/, fromProxy, 10_000)
    await waitForNew(mesh.homeProc, /denied .* the service db/, fromHome, 10_000)
    // the count of the two left out comes at the end of the 10 s window
    await waitForNew(proxy, /\(2 more in the last 10 s\)/, fromProxy, 15_000)
    await waitForNew(mesh.homeProc, /the service db.*\(2 more in the last 10 s\)/, fromHome, 15_000)
    const proxyLines = proxy.stderr().slice(fromProxy.stderr).split('\n').filter(l => l.includes('home.grewal db'))
    const homeLines = mesh.homeProc.stderr().slice(fromHome.stderr).split('\n').filter(l => l.includes('the service db'))
    console.log(`proxy (${Date.now() - t0} ms):\n  ${proxyLines.join('\n  ')}\nhome:\n  ${homeLines.join('\n  ')}`)
    assert.deepEqual(proxyLines, [proxyLine, `${proxyLine} (2 more in the last 10 s)`])
    assert.deepEqual(homeLines, [homeLine, `${homeLine} (2 more in the last 10 s)`])
    proxy.kill('SIGTERM')
    await proxy.exited
  })
})
