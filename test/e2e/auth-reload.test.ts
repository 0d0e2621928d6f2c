/**
 * Per-service allow-lists follow the config while the home daemon runs (real
 * processes on loopback): a list created with `peerup auth add --service`, a
 * list removed from the config, and a service's `authorized_keys` key added
 * by hand are enforced within 5 s without a restart, open tunnels of a peer
 * that lost access are cut, and SIGHUP applies a config change at once.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { addAuthorizedKey, editYamlFile } from '../../src/index.js'
import {
  Harness, addClient, echoServer, mark, payload, pollUntil, sha256, startMesh, waitForNew, writePrivate,
  type Mesh, type NodeDir, type Proc, type RunResult
} from '../fixtures/mesh.js'

/** How quickly a change of the allow-lists must be enforced. */
const ENFORCED_WITHIN = 5000

describe('per-service allow-lists reload with the config (real processes)', () => {
  const h = new Harness()
  let mesh: Mesh
  let web: { port: number, connections: () => number }
  let files: { port: number, connections: () => number }
  /** In no list of the home at first; gets web's own list, later files'. */
  let friend: NodeDir

  const nc = async (who: NodeDir, service: string, data: Buffer = payload(4096)): Promise<RunResult> =>
    await h.run(['--config', who.config, 'nc', 'home.grewal', service], { input: data, timeoutMs: 30_000 })

  /** `who` reaches `service` byte-exact now. */
  const assertReaches = async (who: NodeDir, service: string, what: string): Promise<void> => {
    const data = payload(64 * 1024)
    const r = await nc(who, service, data)
    assert.equal(r.code, 0, `${what}: ${r.stderr}`)
    assert.equal(sha256(r.stdout), sha256(data), what)
  }

  /** A tunnel held open by a long-running `nc`, with one echoed line. */
  const openTunnel = async (who: NodeDir, service: string): Promise<Proc> => {
    const p = h.start(['--config', who.config, 'nc', 'home.grewal', service], { stdin: 'pipe' })
    p.child.stdin!.write(`hold ${service}\n`)
    await p.waitFor(new RegExp(`hold ${service}`), 15_000)
    return p
  }

  /**
   * `who` is refused `service` within {@link ENFORCED_WITHIN} of `t0`: a
   * non-zero exit, no byte back, and the service saw no connection.
   */
  const assertRefusedWithin = async (t0: number, who: NodeDir, service: string, svc: { connections: () => number }, what: string): Promise<void> => {
    const r = await pollUntil(async () => {
      const before = svc.connections()
      const res = await nc(who, service)
      return { res, reached: svc.connections() > before }
    }, ({ res, reached }) => res.code !== 0 && !reached, Math.max(0, ENFORCED_WITHIN - (Date.now() - t0)))
    const ms = Date.now() - t0
    assert.notEqual(r.res.code, 0, `${what}: still allowed ${ms} ms after the change (stdout ${r.res.stdout.length} bytes)`)
    assert.equal(r.reached, false, `${what}: the service saw a connection`)
    assert.equal(r.res.stdout.length, 0, `${what}: no byte may come back`)
    assert.ok(ms <= ENFORCED_WITHIN + 3000, `${what}: refused only after ${ms} ms`)
    console.log(`${what}: refused ${ms} ms after the change (exit ${String(r.res.code)}: ${r.res.stderr.trim()})`)
  }

  /** `p` (an open tunnel) is cut within {@link ENFORCED_WITHIN} of `t0`. */
  const assertCutWithin = async (t0: number, p: Proc, what: string): Promise<void> => {
    let timer: NodeJS.Timeout | undefined
    const code = await Promise.race([p.exited, new Promise(resolve => { timer = setTimeout(() => { resolve('still open') }, Math.max(0, ENFORCED_WITHIN - (Date.now() - t0))) })])
    clearTimeout(timer)
    assert.notEqual(code, 'still open', `${what}: the open tunnel was not cut within ${ENFORCED_WITHIN} ms`)
    assert.notEqual(code, 0, `${what}: a cut tunnel is not a clean exit`)
    console.log(`${what}: open tunnel cut ${Date.now() - t0} ms after the change`)
  }

  before(async () => {
    web = await echoServer(h)
    files = await echoServer(h)
    mesh = await startMesh(h, { services: { web: web.port, files: files.port } })
    friend = await addClient(mesh, 'friend')
  })
  after(async () => { await h.cleanup() })

  it('auth add --service on a running daemon: the new list is enforced within 5 s, the laptop\'s open tunnel is cut', async () => {
    await assertReaches(mesh.client, 'web', 'laptop on web through the global list')
    const open = await openTunnel(mesh.client, 'web')
    const t0 = Date.now()
    const add = await h.run(['--config', mesh.home.config, 'auth', 'add', friend.peerId, '--service', 'web', '--comment', 'friend'])
    assert.equal(add.code, 0, add.stderr)
    assert.match(add.stderr, /service web now has its own allow-list: web_authorized_keys/)
    await assertCutWithin(t0, open, 'laptop on web')
    await assertRefusedWithin(t0, mesh.client, 'web', web, 'laptop on web after auth add --service web')
    await assertReaches(friend, 'web', 'friend on web through its own list')
    // the laptop keeps what the global list gives it
    await assertReaches(mesh.client, 'files', 'laptop on files (global list)')
  })

  it('a per-service list removed from the config: the service is back on the global list within 5 s', async () => {
    const open = await openTunnel(friend, 'web')
    const t0 = Date.now()
    editYamlFile(mesh.home.config, doc => { doc.deleteIn(['services', 'web', 'authorized_keys']) })
    await assertCutWithin(t0, open, 'friend on web')
    await assertRefusedWithin(t0, friend, 'web', web, 'friend on web after its list was removed from the config')
    await assertReaches(mesh.client, 'web', 'laptop on web through the global list again')
  })

  it('a service\'s authorized_keys key added to the config by hand: enforced within 5 s', async () => {
    const open = await openTunnel(mesh.client, 'files')
    writePrivate(join(mesh.home.dir, 'files_authorized_keys'), `${friend.peerId}  # friend\n`)
    const t0 = Date.now()
    editYamlFile(mesh.home.config, doc => { doc.setIn(['services', 'files', 'authorized_keys'], 'files_authorized_keys') })
    await assertCutWithin(t0, open, 'laptop on files')
    await assertRefusedWithin(t0, mesh.client, 'files', files, 'laptop on files after the config named files_authorized_keys')
    await assertReaches(friend, 'files', 'friend on files through its own list')
  })

  it('SIGHUP applies a config change at once', async () => {
    writePrivate(join(mesh.home.dir, 'files2_authorized_keys'), '')
    addAuthorizedKey(join(mesh.home.dir, 'files2_authorized_keys'), mesh.client.peerId, { comment: 'laptop' })
    editYamlFile(mesh.home.config, doc => { doc.setIn(['services', 'files', 'authorized_keys'], 'files2_authorized_keys') })
    const from = mark(mesh.homeProc)
    mesh.homeProc.child.kill('SIGHUP')
    const [line] = await waitForNew(mesh.homeProc, /^daemon: allow-lists: .*$/m, from, 5000)
    console.log(`after SIGHUP: ${line}`)
    assert.match(line, /files: files2_authorized_keys \(1 peer\)/)
    // no polling: the first attempt after the reload already sees the new list
    const before = files.connections()
    const r = await nc(friend, 'files')
    assert.notEqual(r.code, 0, `friend on files right after SIGHUP: ${r.stderr}`)
    assert.equal(r.stdout.length, 0)
    assert.equal(files.connections(), before)
    await assertReaches(mesh.client, 'files', 'laptop on files through files2_authorized_keys')
  })
})
