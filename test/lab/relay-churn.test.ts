/**
 * Reservation churn: the home daemon (a real process, same key) is
 * restarted 50 times in quick succession, killed at random moments (before
 * and after it reserved, SIGKILL and SIGTERM). The relay's status is polled
 * every 100 ms throughout: its reservation count never exceeds the live peers
 * (here at most one reserving peer, the home), and the home always gets its
 * slot back; afterwards a relayed tunnel works. `PEERUP_CHURN_RESTARTS`
 * overrides the count.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Harness, echoServer, payload, pollUntil, sha256, type Proc } from '../fixtures/mesh.js'
import { relayStatus, startRelayLab, type RelayLab } from '../fixtures/relay-load.js'

const RESTARTS = Number(process.env.PEERUP_CHURN_RESTARTS ?? 50)

describe(`reservation churn: home restarted ${RESTARTS}×`, () => {
  const h = new Harness()
  let lab: RelayLab
  let sampler: NodeJS.Timeout | undefined
  const samples: Array<{ reservations: number, peers: number }> = []

  before(async () => {
    const echo = await echoServer(h)
    lab = await startRelayLab(h, { homes: { home: { echo: echo.port } } })
  })
  after(async () => {
    clearInterval(sampler)
    await h.cleanup()
  })

  it('the reservation count never exceeds live peers; the home always gets its slot back', async () => {
    let polling = false
    sampler = setInterval(() => {
      if (polling) return
      polling = true
      relayStatus(lab.relay.dir).then(s => { samples.push({ reservations: s.reservations, peers: s.peers }) }, () => {}).finally(() => { polling = false })
    }, 100)
    const t0 = Date.now()
    let reservedAgain = 0
    let home: Proc = lab.homes.home.proc
    for (let i = 0; i < RESTARTS; i++) {
      home.kill(i % 3 === 0 ? 'SIGTERM' : 'SIGKILL')
      await Promise.race([home.exited, new Promise(resolve => setTimeout(resolve, 15_000))])
      assert.notEqual(home.child.exitCode ?? home.child.signalCode, null, `home #${i} stopped`)
      home = h.start(['--config', lab.homes.home.dir.config, 'daemon'])
      lab.homes.home.proc = home
      await home.waitFor(/^ready$/m, 30_000)
      if (i % 5 === 4) {
        // every fifth run lives until it holds its slot again
        await home.waitFor(/^reserved on relay/m, 15_000)
        reservedAgain++
      } else {
        // the others die at a random moment: before, during or after reserving
        await new Promise(resolve => setTimeout(resolve, Math.floor(Math.random() * 600)))
      }
    }
    const churnMs = Date.now() - t0
    await home.waitFor(/^reserved on relay/m, 15_000)
    const final = await pollUntil(async () => await relayStatus(lab.relay.dir), s => s.reservations === 1, 10_000, 200)
    clearInterval(sampler)
    const maxRes = Math.max(...samples.map(s => s.reservations))
    const over = samples.filter(s => s.reservations > s.peers)
    console.log(`${RESTARTS} restarts in ${(churnMs / 1000).toFixed(1)} s; ${samples.length} relay status samples, max reservations ${maxRes}, max peers ${Math.max(...samples.map(s => s.peers))}; slot regained ${reservedAgain + 1}× on a waited restart`)
    assert.ok(samples.length > 10, 'the relay was sampled during the churn')
    assert.ok(maxRes <= 1, `reservations never exceed the one reserving peer (max ${maxRes})`)
    assert.equal(over.length, 0, `reservations never exceed live peers: ${JSON.stringify(over.slice(0, 5))}`)
    assert.equal(final.reservations, 1, 'the home holds its slot after the churn')

    const data = payload(64 * 1024)
    const r = await pollUntil(async () => await h.run(['--config', lab.client.config, 'nc', 'home.grewal', 'echo', '--path', 'relay'], { input: data, timeoutMs: 15_000 }),
      r => r.code === 0 && sha256(r.stdout) === sha256(data), 10_000, 200)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(sha256(r.stdout), sha256(data), 'a relayed tunnel works after the churn')
    assert.equal(lab.relayProc.child.exitCode, null, 'the relay is still running')
  })
})
