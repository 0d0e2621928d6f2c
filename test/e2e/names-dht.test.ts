import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { editYamlFile, removeNameFromFile } from '../../src/index.js'
import { Harness, startMesh, echoServer, payload, sha256, type Mesh } from '../fixtures/mesh.js'
import { join } from 'node:path'

describe('DHT tier: peer routing without the relay name registry', () => {
  const h = new Harness()
  let mesh: Mesh
  let homePort: string

  before(async () => {
    const echo = await echoServer(h)
    mesh = await startMesh(h, {
      services: { echo: echo.port },
      directAddr: false,
      beforeStart: ({ relay }) => {
        // the relay serves no names: only the DHT can tell where the home is
        editYamlFile(relay.config, doc => { doc.setIn(['relay', 'name_registry'], false) })
      }
    })
    removeNameFromFile(join(mesh.client.dir, 'names.yaml'), 'home.grewal')
    homePort = /\/tcp\/(\d+)\//.exec(mesh.homeAddr)![1]
  })
  after(async () => { await h.cleanup() })

  it('a name is not found when the registry is off (no tier invents it)', async () => {
    const r = await mesh.client$(['resolve', 'home.grewal'])
    assert.equal(r.code, 4, r.stderr)
    assert.match(r.stderr, /name not found: home\.grewal \(tried: names\.yaml, relay grewal, dht, peer ID\)/)
  })

  it('resolves the home\'s peer ID to its current addresses through the DHT', async () => {
    const r = await mesh.client$(['resolve', mesh.home.peerId, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout.toString())
    assert.equal(j.source, 'dht')
    assert.equal(j.peerId, mesh.home.peerId)
    assert.ok(j.addrs.some((a: string) => a.includes(`/tcp/${homePort}`)), `addrs ${JSON.stringify(j.addrs)} lack the home's port ${homePort}`)
  })

  it('a forced direct tunnel finds the home through the DHT and is byte-exact', async () => {
    const data = payload(1024 * 1024)
    const r = await mesh.client$(['nc', mesh.home.peerId, 'echo', '--path', 'direct'], { input: data })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha256(r.stdout), sha256(data))
  })
})
