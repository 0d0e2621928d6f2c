import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Harness, startMesh, echoServer, dial, exchange, payload, sha256, freePort, type Mesh } from '../fixtures/mesh.js'

describe('tunnel integrity through real processes', () => {
  const h = new Harness()
  let mesh: Mesh
  let echo: { port: number }

  before(async () => {
    echo = await echoServer(h)
    mesh = await startMesh(h, { services: { echo: echo.port } })
  })
  after(async () => { await h.cleanup() })

  for (const path of ['relay', 'direct'] as const) {
    it(`64 MiB each way at once, ${path} path, byte-exact`, async () => {
      const port = await freePort()
      const proxy = h.start(['--config', mesh.client.config, 'proxy', 'home.grewal', 'echo', String(port), '--path', path])
      const m = await proxy.waitFor(/proxy \S+ -> home.grewal echo \((.*)\)/)
      assert.match(m[1], path === 'relay' ? /^relayed via / : /^direct$/)
      const data = payload(64 * 1024 * 1024)
      const s = await dial(port)
      const { received, error } = await exchange(s, data, 90_000)
      if (error != null) {
        for (const p of [mesh.relayProc, mesh.homeProc, proxy]) p.kill('SIGUSR2')
        await new Promise(resolve => setTimeout(resolve, 500))
        console.log('RELAY', mesh.relayProc.stderr().slice(-4000))
        console.log('HOME', mesh.homeProc.stderr().slice(-4000))
        console.log('PROXY', proxy.stderr().slice(-4000), 'received', received.length)
      }
      assert.equal(error, undefined)
      assert.equal(received.length, data.length)
      assert.equal(sha256(received), sha256(data))
      proxy.kill('SIGTERM')
      await proxy.exited
    })
  }

  it('peerup nc carries stdin to the service and the reply to stdout', async () => {
    const data = payload(4 * 1024 * 1024)
    const r = await mesh.client$(['nc', 'home.grewal', 'echo'], { input: data })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha256(r.stdout), sha256(data))
  })
})
