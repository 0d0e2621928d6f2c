/**
 * Relay restarts through real processes: after a SIGKILL and a restart with
 * the same key and port the home re-reserves and relayed tunnels work again
 * within 10 s; a relay that is down when the home starts is not fatal.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Harness, startMesh, echoServer, payload, sha256, pollUntil, waitForNew, mark, type Mesh, type RunResult } from '../fixtures/mesh.js'

describe('relay restart through real processes', () => {
  const h = new Harness()
  let mesh: Mesh
  let echo: { port: number, connections: () => number }

  // the home's direct address is not given to the client, so every tunnel needs the relay
  before(async () => {
    echo = await echoServer(h)
    mesh = await startMesh(h, { services: { echo: echo.port }, directAddr: false })
  })
  after(async () => { await h.cleanup() })

  const viaRelay = async (data: Buffer, timeoutMs = 15_000): Promise<RunResult> =>
    await mesh.client$(['nc', 'home.grewal', 'echo', '--path', 'relay'], { input: data, timeoutMs })

  /** Poll `peerup nc --path relay` until it carries `data` byte-exact; bounded by `budgetMs`. */
  const pollRelayed = async (data: Buffer, budgetMs: number): Promise<{ r: RunResult, attempts: number, startedAt: number }> => {
    let attempts = 0
    let startedAt = 0
    const deadline = Date.now() + budgetMs
    const r = await pollUntil(async () => {
      attempts++
      startedAt = Date.now()
      return await viaRelay(data, Math.max(5000, deadline - Date.now()))
    }, r => r.code === 0 && sha256(r.stdout) === sha256(data), budgetMs, 200)
    return { r, attempts, startedAt }
  }

  it('relayed tunnels work before the restart', async () => {
    const data = payload(256 * 1024)
    const r = await viaRelay(data)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha256(r.stdout), sha256(data))
  })

  it('SIGKILL + restart (same key and port): the home re-reserves and nc via relay works within 10 s', async () => {
    const homeMark = mark(mesh.homeProc)
    mesh.relayProc.kill('SIGKILL')
    assert.equal(await mesh.relayProc.exited, 'SIGKILL')
    // the home notices the loss
    await waitForNew(mesh.homeProc, /no reservation on relay/, homeMark, 15_000)
    const down = await viaRelay(Buffer.from('x'), 15_000)
    assert.notEqual(down.code, 0, 'no relayed tunnel while the relay is down')

    await mesh.restartRelay()
    const t0 = Date.now()
    const data = payload(128 * 1024)
    const { r, attempts, startedAt } = await pollRelayed(data, 10_000)
    const elapsed = Date.now() - t0
    assert.equal(r.code, 0, `no relayed tunnel within 10 s of the restart (${attempts} attempts): ${r.stderr}`)
    assert.equal(sha256(r.stdout), sha256(data))
    // the spec's bound: a new nc issued within 10 s of the restart works
    assert.ok(startedAt - t0 <= 10_000, `the first working nc started ${startedAt - t0} ms after the restart`)
    await waitForNew(mesh.homeProc, /^reserved on relay/m, homeMark, 5000)
    console.log(`relayed nc works ${elapsed} ms after the relay restarted (${attempts} attempts; the working one started at +${startedAt - t0} ms)`)
    assert.equal(mesh.homeProc.child.exitCode, null, 'the home daemon survived the relay restart')
  })

  it('a relay that is down when the home starts is not fatal: the home reserves once it is up', async () => {
    mesh.homeProc.kill('SIGKILL')
    mesh.relayProc.kill('SIGKILL')
    await Promise.all([mesh.homeProc.exited, mesh.relayProc.exited])

    const home = h.start(['--config', mesh.home.config, 'daemon'])
    mesh.homeProc = home
    await home.waitFor(/^ready$/m, 15_000)
    await home.waitFor(/no reservation on relay .*\(retrying\)/, 10_000)
    // keep the relay down for a few retries; the daemon must stay up
    await new Promise(resolve => setTimeout(resolve, 3000))
    assert.equal(home.child.exitCode, null, 'the home daemon keeps running without its relay')
    assert.doesNotMatch(home.stderr(), /^reserved on relay/m)

    await mesh.restartRelay()
    const t0 = Date.now()
    await home.waitFor(/^reserved on relay/m, 15_000)
    console.log(`home reserved ${Date.now() - t0} ms after the late relay came up`)
    const data = payload(64 * 1024)
    const { r, attempts } = await pollRelayed(data, 10_000)
    assert.equal(r.code, 0, `relayed nc failed after ${attempts} attempts: ${r.stderr}`)
    assert.equal(sha256(r.stdout), sha256(data))
  })
})
