/**
 * The relay is down for 60 s when the home starts (real processes). A plain
 * TCP listener on the relay's port stands in for the missing relay and
 * records every dial the home makes: the home keeps retrying with jittered,
 * capped backoff and stays up. Then the real relay comes back on the same
 * port with the same key, and the home reserves within 10 s; a relayed
 * tunnel works. `PEERUP_RELAY_DOWN_SECONDS` overrides the 60 s.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import { Harness, echoServer, payload, pollUntil, sha256, waitForNew, mark } from '../fixtures/mesh.js'
import { startRelayLab, type RelayLab } from '../fixtures/relay-load.js'

const DOWN_S = Number(process.env.PEERUP_RELAY_DOWN_SECONDS ?? 60)

describe(`relay down for ${DOWN_S} s at home start-up`, () => {
  const h = new Harness()
  let lab: RelayLab
  let standIn: Server | undefined
  const sockets = new Set<Socket>()

  before(async () => {
    const echo = await echoServer(h)
    lab = await startRelayLab(h, { homes: { home: { echo: echo.port } } })
  })
  after(async () => {
    for (const s of sockets) s.destroy()
    standIn?.close()
    await h.cleanup()
  })

  it('the home retries with jittered, capped backoff, stays up, and reserves within 10 s of the relay coming back', async () => {
    const port = Number(/\/tcp\/(\d+)\//.exec(lab.relayAddr)![1])
    lab.homes.home.proc.kill('SIGKILL')
    lab.relayProc.kill('SIGKILL')
    await Promise.all([lab.homes.home.proc.exited, lab.relayProc.exited])

    // the stand-in accepts and drops every connection: each is one dial attempt of the home
    const attempts: number[] = []
    standIn = createServer((s) => { attempts.push(Date.now()); sockets.add(s); s.on('error', () => {}); s.destroy() })
    await new Promise<void>((resolve, reject) => { standIn!.once('error', reject); standIn!.listen(port, '127.0.0.1', () => { resolve() }) })

    const home = h.start(['--config', lab.homes.home.dir.config, 'daemon'])
    lab.homes.home.proc = home
    await home.waitFor(/^ready$/m, 30_000)
    await home.waitFor(/no reservation on relay .*\(retrying\)/, 15_000)
    const t0 = Date.now()
    await new Promise(resolve => setTimeout(resolve, DOWN_S * 1000))
    assert.equal(home.child.exitCode, null, 'the home daemon keeps running without its relay')
    assert.doesNotMatch(home.stderr(), /^reserved on relay/m)
    await new Promise<void>(resolve => standIn!.close(() => { resolve() }))
    for (const s of sockets) s.destroy()

    const during = attempts.filter(t => t >= t0)
    const gaps = during.slice(1).map((t, i) => t - during[i])
    const sorted = [...gaps].sort((a, b) => a - b)
    console.log(`${attempts.length} dials in all, ${during.length} in the ${DOWN_S} s outage; gaps ms: min ${sorted[0]}, median ${sorted[sorted.length >> 1]}, max ${sorted[sorted.length - 1]}`)
    // capped backoff (5 s max ± 30% jitter, plus the 2 s check interval): it never gives up or backs off for long
    assert.ok(during.length >= DOWN_S / 10, `the home kept dialing (${during.length} dials in ${DOWN_S} s)`)
    assert.ok(sorted[sorted.length - 1] <= 10_000, `no gap between dials over 10 s (max ${sorted[sorted.length - 1]} ms)`)
    // jitter: the gaps are not all the same
    assert.ok(sorted[sorted.length - 1] - sorted[0] >= 200, `the gaps vary (jitter): ${sorted.join(', ')}`)

    const homeMark = mark(home)
    const relay = h.start(['--config', lab.relay.config, 'relay', 'serve'])
    lab.relayProc = relay
    await relay.waitFor(/^ready$/m, 30_000)
    const back = Date.now()
    await waitForNew(home, /^reserved on relay/m, homeMark, 10_000)
    console.log(`home reserved ${Date.now() - back} ms after the relay came back`)
    const data = payload(64 * 1024)
    const r = await pollUntil(async () => await h.run(['--config', lab.client.config, 'nc', 'home.grewal', 'echo', '--path', 'relay'], { input: data, timeoutMs: 15_000 }),
      r => r.code === 0 && sha256(r.stdout) === sha256(data), 10_000, 200)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha256(r.stdout), sha256(data), 'a relayed tunnel works once the relay is back')
  })
})
