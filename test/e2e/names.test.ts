import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { addAuthorizedKey, addNameToFile, editYamlFile, loadConfig, removeNameFromFile } from '../../src/index.js'
import { Harness, startMesh, echoServer, payload, sha256, type Mesh, type NodeDir, type Proc } from '../fixtures/mesh.js'

interface RegistryRow { network: string, host: string, peerId: string, registeredAt: string }

/** Poll `fn` until it returns a value other than undefined (bounded). */
async function poll<T> (what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) { last = err }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last != null ? `: ${String(last)}` : ''}`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

describe('relay name registry and tiered resolution (real processes)', () => {
  const h = new Harness()
  let mesh: Mesh
  let echo: { port: number }
  let stranger: NodeDir
  let home2: NodeDir
  let home2Proc: Proc | undefined
  const timings: Record<string, number> = {}
  /** The tiers a miss reports: the DHT tier only when the config enables it (the default). */
  const triedFor = (config: string): string => ['names.yaml', 'relay grewal', ...(loadConfig(config).config.network.dht ? ['dht'] : []), 'peer ID'].join(', ')

  const registry = async (): Promise<RegistryRow[]> => {
    const r = await h.run(['--config', mesh.relay.config, 'relay', 'names', 'list', '--json'])
    assert.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout.toString())
  }
  const binding = async (name: string): Promise<string | undefined> => {
    const [host, network] = name.split('.')
    return (await registry()).find(e => e.host === host && e.network === network)?.peerId
  }
  const resolveJson = async (config: string, name: string): Promise<{ code: number | string, json?: any, stderr: string, wallMs: number }> => {
    const started = performance.now()
    const r = await h.run(['--config', config, 'resolve', name, '--json'])
    return { code: r.code, json: r.code === 0 ? JSON.parse(r.stdout.toString()) : undefined, stderr: r.stderr, wallMs: Math.round(performance.now() - started) }
  }
  /** Forget the client's persisted name cache, so the relay is really asked. */
  const dropCache = (dir: string): void => { rmSync(join(dir, '.cache'), { recursive: true, force: true }) }

  before(async () => {
    echo = await echoServer(h)
    mesh = await startMesh(h, {
      services: { echo: echo.port },
      directAddr: false,
      // no names-file entry for the home on the client: home.grewal must come from the relay
      beforeStart: ({ client }) => { removeNameFromFile(join(client.dir, 'names.yaml'), 'home.grewal') }
    })
    // a client that is not a member of the relay (the home would even accept it)
    stranger = await h.initNode('stranger', 'client')
    editYamlFile(stranger.config, doc => { doc.set('relays', doc.createNode([mesh.relayAddr])) })
    addAuthorizedKey(join(mesh.home.dir, 'authorized_keys'), stranger.peerId, { comment: 'stranger' })
    // a second home: another identity, also a member, same network, same host name
    home2 = await h.initNode('home2', 'home', { host: 'home' })
    editYamlFile(home2.config, doc => { doc.set('relays', doc.createNode([mesh.relayAddr])) })
    addAuthorizedKey(join(mesh.relay.dir, 'authorized_keys'), home2.peerId, { comment: 'home2' })
  })
  after(async () => {
    console.log('# timings (ms):', JSON.stringify(timings))
    await h.cleanup()
  })

  it('the home registers home.grewal on the relay when it connects', async () => {
    const peer = await poll('home.grewal in the registry', async () => await binding('home.grewal'))
    assert.equal(peer, mesh.home.peerId)
    const rows = await registry()
    assert.equal(rows.length, 1, JSON.stringify(rows))
    assert.ok(!Number.isNaN(Date.parse(rows[0].registeredAt)))
  })

  it('a member client resolves home.grewal through the relay (source network), then from its cache', async () => {
    dropCache(mesh.client.dir)
    const cold = await resolveJson(mesh.client.config, 'home.grewal')
    assert.equal(cold.code, 0, cold.stderr)
    assert.equal(cold.json.peerId, mesh.home.peerId)
    assert.equal(cold.json.source, 'network')
    assert.equal(cold.json.via, 'relay grewal')
    assert.equal(cold.json.cached, false)
    assert.deepEqual(cold.json.tried, ['names.yaml', 'relay grewal'])
    // the relay knows the home's direct listen address
    const homeTcp = mesh.homeAddr.split('/p2p/')[0]
    assert.ok(cold.json.addrs.some((a: string) => a === homeTcp || a.startsWith(`${homeTcp}/`)), `addrs ${JSON.stringify(cold.json.addrs)} lack ${homeTcp}`)
    assert.ok(cold.json.addrs.every((a: string) => !a.includes('/p2p-circuit')))
    timings.resolveCold = cold.json.ms
    timings.resolveColdWall = cold.wallMs

    const warm = await resolveJson(mesh.client.config, 'home.grewal')
    assert.equal(warm.code, 0, warm.stderr)
    assert.equal(warm.json.peerId, mesh.home.peerId)
    assert.equal(warm.json.source, 'network')
    assert.equal(warm.json.cached, true)
    timings.resolveCached = warm.json.ms
    timings.resolveCachedWall = warm.wallMs

    // the human form says where the answer came from
    const text = await mesh.client$(['resolve', 'home.grewal'])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout.toString(), new RegExp(`^home\\.grewal  ${mesh.home.peerId}  \\(network: relay grewal, cached\\)`))
  })

  it('a client that is not a member of the relay gets nothing (exit 4)', async () => {
    const r = await h.run(['--config', stranger.config, 'resolve', 'home.grewal', '--json'], { timeoutMs: 30_000 })
    assert.equal(r.code, 4, r.stderr)
    assert.equal(r.stdout.length, 0)
    assert.equal(r.stderr.trim(), `peerup: name not found: home.grewal (tried: ${triedFor(stranger.config)})`)
    assert.doesNotMatch(r.stderr + r.stdout.toString(), new RegExp(mesh.home.peerId))
  })

  it('nc maps a port number to the service on that port; an unknown port lists the services', async () => {
    const data = payload(256 * 1024)
    // three independent client processes
    const [r, bad, list] = await Promise.all([
      mesh.client$(['nc', 'home.grewal', String(echo.port)], { input: data }),
      mesh.client$(['nc', 'home.grewal', '9'], { input: 'x' }),
      mesh.client$(['service', 'list', '--peer', 'home.grewal', '--json'])
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha256(r.stdout), sha256(data))

    assert.equal(bad.code, 4, bad.stderr)
    assert.equal(bad.stdout.length, 0)
    assert.match(bad.stderr, new RegExp(`home\\.grewal has no service for port 9; its services: echo \\(port ${echo.port}\\)`))

    assert.equal(list.code, 0, list.stderr)
    assert.deepEqual(JSON.parse(list.stdout.toString()), [{ name: 'echo', port: echo.port, protocol: '/peerup/echo/1.0.0' }])
  })

  it('a names.yaml entry wins over the relay (source local)', async () => {
    const names = join(mesh.client.dir, 'names.yaml')
    // point the local entry at another peer so precedence is visible in the answer
    addNameToFile(names, 'home.grewal', home2.peerId, [])
    try {
      const r = await resolveJson(mesh.client.config, 'home.grewal')
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.json.peerId, home2.peerId)
      assert.equal(r.json.source, 'local')
      assert.equal(r.json.via, 'names.yaml')
      assert.deepEqual(r.json.tried, ['names.yaml'])
    } finally {
      removeNameFromFile(names, 'home.grewal')
    }
    const back = await resolveJson(mesh.client.config, 'home.grewal')
    assert.equal(back.code, 0, back.stderr)
    assert.equal(back.json.peerId, mesh.home.peerId)
    assert.equal(back.json.source, 'network')
  })

  it('an unknown name fails with exit 4 and lists the tiers tried', async () => {
    const r = await mesh.client$(['resolve', 'nope.grewal'])
    assert.equal(r.code, 4, r.stderr)
    assert.equal(r.stdout.length, 0)
    assert.equal(r.stderr.trim(), `peerup: name not found: nope.grewal (tried: ${triedFor(mesh.client.config)})`)
  })

  it('malformed names are usage errors (exit 2), before any lookup', async () => {
    const bad = ['a/b', '-x.grewal', `${'a'.repeat(64)}.grewal`, 'a.b.c']
    // `--` so "-x.grewal" reaches the name parser instead of commander's option parser
    const runs = await Promise.all(bad.map(async name => await mesh.client$(['resolve', '--json', '--', name])))
    runs.forEach((r, i) => {
      assert.equal(r.code, 2, `${bad[i]}: ${r.stderr}`)
      assert.equal(r.stdout.length, 0, bad[i])
      assert.match(r.stderr, /^peerup: invalid name "/, bad[i])
    })
  })

  it('another member cannot take the name (name taken); the first binding stays', async () => {
    home2Proc = h.start(['--config', home2.config, 'daemon'], { env: { DEBUG: 'peerup:node,peerup:node:error' } })
    await home2Proc.waitFor(/^ready$/m)
    await home2Proc.waitFor(/reserved on relay/, 15_000)
    await home2Proc.waitFor(/refused name home\.grewal: name taken/, 15_000)
    assert.equal(await binding('home.grewal'), mesh.home.peerId)
    dropCache(mesh.client.dir)
    const r = await resolveJson(mesh.client.config, 'home.grewal')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.json.peerId, mesh.home.peerId)
    home2Proc.kill('SIGKILL')
    await home2Proc.exited
  })

  it('the name survives a SIGKILL and restart of the home', async () => {
    const before = (await registry()).find(e => e.host === 'home' && e.network === 'grewal')
    assert.ok(before != null)
    mesh.homeProc.kill('SIGKILL')
    await mesh.homeProc.exited
    await mesh.restartHome()
    const afterRows = await registry()
    assert.deepEqual(afterRows, [before])
    dropCache(mesh.client.dir)
    const r = await resolveJson(mesh.client.config, 'home.grewal')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.json.peerId, mesh.home.peerId)
    assert.equal(r.json.source, 'network')
    assert.equal(r.json.cached, false)
    // and the restarted home is reachable by that name
    const data = payload(64 * 1024)
    const nc = await mesh.client$(['nc', 'home.grewal', 'echo'], { input: data })
    assert.equal(nc.code, 0, nc.stderr)
    assert.equal(sha256(nc.stdout), sha256(data))
  })

  it('relay names remove frees the name for another member', async () => {
    const rm = await h.run(['--config', mesh.relay.config, 'relay', 'names', 'remove', 'home.grewal'])
    assert.equal(rm.code, 0, rm.stderr)
    assert.deepEqual(await registry(), [])
    const again = await h.run(['--config', mesh.relay.config, 'relay', 'names', 'remove', 'home.grewal'])
    assert.equal(again.code, 4, again.stderr)

    // the running relay drops the binding (it watches its file): resolution now fails
    await poll('the relay to forget home.grewal', async () => {
      dropCache(mesh.client.dir)
      const r = await mesh.client$(['resolve', 'home.grewal'])
      return r.code === 4 ? true : undefined
    })
    // and the second home now gets it on its next registration
    home2Proc = h.start(['--config', home2.config, 'daemon'])
    await home2Proc.waitFor(/reserved on relay/, 15_000)
    assert.equal(await poll('home.grewal bound to home2', async () => {
      const p = await binding('home.grewal')
      return p === home2.peerId ? p : undefined
    }), home2.peerId)
    dropCache(mesh.client.dir)
    const r = await resolveJson(mesh.client.config, 'home.grewal')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.json.peerId, home2.peerId)
  })
})
