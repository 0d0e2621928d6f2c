/**
 * Faults in the NAT lab, with real CLI processes in network namespaces:
 * the link to the relay cut for 10 s under an idle tunnel, and a relay that is
 * unreachable for the first minute of the home's life.
 */
import { after, afterEach, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Harness, type Proc } from '../fixtures/mesh.js'
import { createLab, natTopology, type Lab, type NatTopology } from '../fixtures/netns.js'
import { labClient, labEcho, labMesh, type LabClient, type LabMesh } from '../fixtures/lab-mesh.js'

/** How long the relay's link stays down at the home's start-up (ms). */
const RELAY_DOWN_AT_START = 60_000
/** How long the link to the relay is cut under an idle tunnel (ms). */
const LINK_CUT = 10_000

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Whether something accepts TCP on 127.0.0.1:port inside `ns` (a bounded probe). */
async function accepts (lab: Lab, ns: string, port: number): Promise<boolean> {
  const script = `const c=require('net').connect(+process.argv[1],'127.0.0.1');c.on('connect',()=>{console.log('ok');process.exit(0)});c.on('error',e=>{console.log(e.code);process.exit(1)});setTimeout(()=>process.exit(2),3000)`
  const r = await lab.exec(ns, [process.execPath, '-e', script, String(port)], 10_000)
  return r.stdout.trim() === 'ok'
}

describe('NAT lab: faults', { timeout: 240_000 }, () => {
  let lab: Lab
  let t: NatTopology
  let h: Harness
  let m: LabMesh
  const clients: LabClient[] = []
  let relayProc: Proc | undefined
  let homeProc: Proc | undefined

  before(async () => {
    lab = await createLab()
    t = await natTopology(lab)
    h = new Harness()
    m = await labMesh(h, t)
    await labEcho(t.home)
  })
  afterEach(() => { for (const c of clients.splice(0)) c.kill() })
  after(async () => {
    for (const c of clients) c.kill()
    await h?.cleanup()
    await lab?.cleanup()
  })

  it(`relay unreachable for ${RELAY_DOWN_AT_START / 1000} s at home start-up: the home keeps retrying with jittered backoff and reserves ≤ 10 s after the relay is back`, async () => {
    relayProc = await m.startRelay()
    // the relay runs but its uplink is down: SYNs go nowhere (a VPS that vanished), the harder case than a refused port
    await lab.setLink(t.inet, t.ifs.inetToRelay, false)
    let home: Proc
    try {
      home = homeProc = await m.startHome(m.home, { reserved: false, env: { DEBUG: 'peerup:reservations' } })
      await sleep(RELAY_DOWN_AT_START)
      assert.equal(home.child.exitCode, null, `the home must keep running: ${home.stderr()}`)
      assert.doesNotMatch(home.stderr(), /reserved on relay/)
    } finally {
      await lab.setLink(t.inet, t.ifs.inetToRelay, true)
    }
    const back = Date.now()
    const failures = (home.stderr().match(/reservation on \S+ failed/g) ?? []).length
    await home.waitFor(/reserved on relay/, 30_000)
    const reservedAfter = Date.now() - back
    console.log(`# relay back → home reserved after ${reservedAfter} ms (${failures} failed attempts during ${RELAY_DOWN_AT_START / 1000} s)`)
    assert.ok(reservedAfter <= 10_000, `reserved ${reservedAfter} ms after the relay came back (limit 10 s)`)
    assert.ok(failures >= 5, `expected repeated attempts while the relay was unreachable, saw ${failures}: ${home.stderr()}`)
    // and the client reaches the home through it
    const r = await m.client$(['ping', 'home.grewal', '-c', '1', '--json'], { timeoutMs: 30_000 })
    assert.equal(r.code, 0, r.stderr)
  })

  it(`link to the relay cut for ${LINK_CUT / 1000} s under an idle tunnel: the local listener stays, new tunnels work ≤ 10 s after the link returns`, async () => {
    // independent of the previous test's outcome
    if (relayProc == null || relayProc.child.exitCode != null) relayProc = await m.startRelay()
    if (homeProc == null || homeProc.child.exitCode != null || !/reserved on relay/.test(homeProc.stderr())) {
      homeProc?.kill()
      homeProc = await m.startHome(m.home)
    }
    const proxy = m.clientStart(['proxy', 'home.grewal', 'echo', '0'])
    const port = Number((await proxy.waitFor(/^proxy 127\.0\.0\.1:(\d+)/m, 30_000))[1])
    await proxy.waitFor(/^ready$/m, 30_000)
    const idle = await labClient(t.client, port)
    clients.push(idle)
    const first = await idle.roundTrip(64 * 1024)
    assert.equal(first.received, first.sent)

    await lab.setLink(t.inet, t.ifs.inetToRelay, false)
    let listenerUp = true
    try {
      const cutEnd = Date.now() + LINK_CUT
      while (Date.now() < cutEnd) {
        listenerUp &&= await accepts(lab, t.client, port)
        await sleep(1000)
      }
    } finally {
      await lab.setLink(t.inet, t.ifs.inetToRelay, true)
    }
    const back = Date.now()
    assert.equal(listenerUp, true, 'the proxy\'s local listener must accept connections throughout the cut')
    assert.equal(proxy.child.exitCode, null, `the proxy must keep running: ${proxy.stderr()}`)

    // new tunnels, retried until one round trip succeeds
    let ok = false
    let attempts = 0
    while (!ok && Date.now() - back < 20_000) {
      attempts++
      const c = await labClient(t.client, port).catch(() => undefined)
      if (c == null) { await sleep(250); continue }
      clients.push(c)
      const r = await c.roundTrip(256 * 1024, 4000).catch(() => undefined)
      c.kill()
      ok = r != null && r.received === r.sent
      if (!ok) await sleep(250)
    }
    const newTunnelAfter = Date.now() - back
    console.log(`# link back → new tunnel after ${newTunnelAfter} ms (${attempts} attempts)`)
    assert.equal(ok, true, `no working tunnel 20 s after the link came back: ${proxy.stderr()}`)
    assert.ok(newTunnelAfter <= 10_000, `new tunnel worked ${newTunnelAfter} ms after the link came back (limit 10 s)`)
    assert.equal(await accepts(lab, t.client, port), true, 'the local listener is still there')

    // the idle session: report whether it survived the cut (TCP to the relay was never reset)
    const later = await idle.roundTrip(64 * 1024, 15_000).catch((err: Error) => ({ error: err.message }))
    console.log(`# idle tunnel across the ${LINK_CUT / 1000} s cut: ${'received' in later && later.received === later.sent ? 'survived' : `lost (${JSON.stringify(later).slice(0, 200)})`}`)
    // `peerup proxy` waits on SIGTERM for open local connections (server.close), so end ours first
    idle.kill()
    proxy.kill('SIGKILL')
    await proxy.exited
  })
})
