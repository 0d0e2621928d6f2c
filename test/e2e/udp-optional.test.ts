/**
 * Direct UDP is optional: with the WebRTC transport unavailable in every
 * process (as when the native addon cannot load), peerup works as before
 * over TCP and the relay, and `peerup ping` says why there is no direct
 * UDP path. Loopback only (ICE itself is tested in the NAT lab).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Harness, echoServer, payload, sha256, startMesh, type Mesh } from '../fixtures/mesh.js'

describe('direct UDP unavailable', () => {
  const h = new Harness()
  let mesh: Mesh
  const saved = process.env.PEERUP_DISABLE_UDP

  before(async () => {
    // inherited by every CLI process the harness starts
    process.env.PEERUP_DISABLE_UDP = '1'
    const echo = await echoServer(h)
    mesh = await startMesh(h, { services: { echo: echo.port }, directAddr: false })
  })
  after(async () => {
    if (saved == null) delete process.env.PEERUP_DISABLE_UDP
    else process.env.PEERUP_DISABLE_UDP = saved
    await h.cleanup()
  })

  it('ping works over the relay and says why there is no direct UDP path', async () => {
    const r = await mesh.client$(['ping', 'home.grewal', '--json', '-c', '2'])
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout.toString())
    assert.equal(j.class, 'relayed')
    assert.equal(j.path, 'relayed')
    assert.equal(j.udp.available, false)
    assert.match(j.udp.reason, /PEERUP_DISABLE_UDP/)
    const human = await mesh.client$(['ping', 'home.grewal', '-c', '1'])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout.toString(), /path=relayed via /)
    assert.match(human.stderr, /no direct UDP path to home\.grewal: .*PEERUP_DISABLE_UDP/)
  })

  it('tunnels work as before (relayed, byte-exact)', async () => {
    const data = payload(4 * 1024 * 1024)
    const r = await mesh.client$(['nc', 'home.grewal', 'echo'], { input: data, timeoutMs: 60_000 })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha256(r.stdout), sha256(data))
  })
})
