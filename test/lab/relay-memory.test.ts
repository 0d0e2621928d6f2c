/**
 * Relay memory under abuse, and slow-consumer isolation (as Tailscale's DERP
 * TestSendFreeze). The relay and two homes (B, C) are real CLI processes; the
 * client A is the p2pnet library in this process, so A→B and A→C share one
 * connection to the relay. The relay's RSS is sampled from /proc every
 * 100 ms throughout.
 *
 * - A service that stops reading: 512 MiB pushed at it pile up nowhere in
 *   the relay (flow control holds them at the sender), and arrive byte-exact
 *   once it reads again.
 * - C's whole process frozen (SIGSTOP): A→B still completes byte-exact (the
 *   throughput ratio is measured by the bench), relay RSS stays bounded, and
 *   A→C completes after SIGCONT.
 * - A member that ignores yamux flow control and floods a circuit to a frozen
 *   peer is cut off; relay RSS stays bounded; the others keep working.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createPeerupNode, loadConfig, type PeerupNode, type TcpProxy } from '../../src/index.js'
import { Harness } from '../fixtures/mesh.js'
import { procMem, pushThrough, relayStatus, sinkServer, startRelayLab, type RelayLab } from '../fixtures/relay-load.js'
import { connectVia, createLeanPeer, leanKey, leanPeerIds } from '../fixtures/relay-peers.js'

const MiB = 1024 * 1024
/** Growth of the relay's RSS over its level before the test that we accept (MiB). */
const RSS_GROWTH_BOUND = 96

describe('relay memory under abuse and slow-consumer isolation', () => {
  const h = new Harness()
  let lab: RelayLab
  let a: PeerupNode
  let toB: TcpProxy
  let toC: TcpProxy
  let sinkB: Awaited<ReturnType<typeof sinkServer>>
  let sinkC: Awaited<ReturnType<typeof sinkServer>>
  let abuser: string
  let peak = 0
  let sampler: NodeJS.Timeout | undefined

  const relayRss = (): number => procMem(lab.relayProc.child.pid!).rss
  /** Track the relay's peak RSS from now on. */
  const watch = (): { base: number, peak: () => number } => {
    const base = relayRss()
    peak = base
    clearInterval(sampler)
    sampler = setInterval(() => { try { peak = Math.max(peak, relayRss()) } catch {} }, 100)
    return { base, peak: () => Math.max(peak, relayRss()) }
  }
  const expectSha = (r: { sent: number, sha: string, answer: string, error?: string }, what: string): void => {
    assert.equal(r.error, undefined, `${what}: ${r.error}`)
    assert.equal(r.answer, `${r.sent} ${r.sha}`, `${what}: byte-exact`)
  }

  before(async () => {
    sinkB = await sinkServer(h)
    sinkC = await sinkServer(h)
    abuser = (await leanPeerIds('memory-abuser', 1))[0]
    lab = await startRelayLab(h, { homes: { b: { sink: sinkB.port }, c: { sink: sinkC.port } }, extraMembers: [abuser] })
    a = await createPeerupNode({ config: loadConfig(lab.client.config), serve: false, listen: [] })
    await a.start()
    toB = await a.proxy('b.grewal', 'sink', 0, { path: 'relay' })
    toC = await a.proxy('c.grewal', 'sink', 0, { path: 'relay' })
  })
  after(async () => {
    clearInterval(sampler)
    for (const home of Object.values(lab?.homes ?? {})) home.proc?.kill('SIGCONT')
    await toB?.close().catch(() => {})
    await toC?.close().catch(() => {})
    await a?.stop({ graceMs: 0 }).catch(() => {})
    await h.cleanup()
  })

  it('a service that stops reading: 512 MiB pushed at it do not pile up in the relay, and arrive byte-exact later', async () => {
    // warm the path (connection, circuit, stream windows)
    expectSha(await pushThrough(toC.port, 4 * MiB), 'warm-up')
    const w = watch()
    sinkC.freeze(true)
    let sent = 0
    const push = pushThrough(toC.port, 512 * MiB, { progress: n => { sent = n }, timeoutMs: 150_000 })
    await new Promise(resolve => setTimeout(resolve, 6000))
    const held = sent
    const st = await relayStatus(lab.relay.dir)
    console.log(`frozen service: ${(held / MiB).toFixed(0)} MiB left the sender in 6 s; relay RSS ${w.base.toFixed(0)} → peak ${w.peak().toFixed(0)} MiB; ${st.pausedCircuits} paused circuit(s)`)
    assert.ok(held < 128 * MiB, `flow control holds the data at the sender (${held} B left it)`)
    assert.ok(w.peak() - w.base < RSS_GROWTH_BOUND, `relay RSS grew ${(w.peak() - w.base).toFixed(0)} MiB`)
    sinkC.freeze(false)
    const r = await push
    expectSha(r, '512 MiB after the service resumed')
    console.log(`relay RSS peak over the whole 512 MiB: ${w.peak().toFixed(0)} MiB (base ${w.base.toFixed(0)})`)
    assert.ok(w.peak() - w.base < RSS_GROWTH_BOUND, `relay RSS grew ${(w.peak() - w.base).toFixed(0)} MiB`)
  })

  it('C frozen (SIGSTOP): A→B completes byte-exact while A→C is stuck; relay RSS bounded; A→C completes after SIGCONT', async () => {
    const baseline = await pushThrough(toB.port, 64 * MiB)
    expectSha(baseline, 'A→B baseline')
    const w = watch()
    let sentC = 0
    const pushC = pushThrough(toC.port, 256 * MiB, { progress: n => { sentC = n }, timeoutMs: 150_000 })
    const t0 = Date.now()
    while (sentC < 16 * MiB && Date.now() - t0 < 20_000) await new Promise(resolve => setTimeout(resolve, 20))
    assert.ok(sentC >= 16 * MiB, 'A→C was moving before the freeze')
    lab.homes.c.proc.kill('SIGSTOP')
    try {
      await new Promise(resolve => setTimeout(resolve, 1000))
      const stuckAt = sentC
      const during = await pushThrough(toB.port, 64 * MiB, { timeoutMs: 60_000 })
      expectSha(during, 'A→B while C is frozen')
      const st = await relayStatus(lab.relay.dir)
      console.log(`A→B ${(64 / baseline.seconds).toFixed(0)} MiB/s before, ${(64 / during.seconds).toFixed(0)} MiB/s while C is frozen (ratio ${(baseline.seconds / during.seconds).toFixed(2)}); A→C moved ${((sentC - stuckAt) / MiB).toFixed(1)} MiB meanwhile; relay RSS ${w.base.toFixed(0)} → peak ${w.peak().toFixed(0)} MiB; ${st.pausedCircuits} paused circuit(s)`)
      assert.ok(sentC - stuckAt < 64 * MiB, 'A→C is held back while C is frozen')
      assert.ok(w.peak() - w.base < RSS_GROWTH_BOUND, `relay RSS grew ${(w.peak() - w.base).toFixed(0)} MiB`)
    } finally {
      lab.homes.c.proc.kill('SIGCONT')
    }
    expectSha(await pushC, 'A→C after SIGCONT')
  })

  it('a member ignoring flow control on a circuit to a frozen peer is cut off; relay RSS bounded; others unaffected', async () => {
    const node = await createLeanPeer(await leanKey('memory-abuser', 0))
    try {
      const w = watch()
      const circuit = await connectVia(node, lab.relayAddr, lab.homes.c.dir.peerId)
      assert.equal(circuit.status, 100, 'the circuit to C opens')
      const stream = circuit.stream! as any
      lab.homes.c.proc.kill('SIGSTOP')
      let pushed = 0
      try {
        const chunk = new Uint8Array(256 * 1024).fill(7)
        const deadline = Date.now() + 30_000
        while (pushed < 512 * MiB && stream.status === 'open' && Date.now() < deadline) {
          // ignore the relay's window: claim an endless send window before every write
          stream.sendWindowCapacity = 2 ** 40
          stream.maxMessageSize = chunk.byteLength
          try { stream.send(chunk) } catch { break }
          pushed += chunk.byteLength
          if (pushed % (8 * MiB) === 0) await new Promise(resolve => setTimeout(resolve, 5))
        }
        const cut = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => { resolve(false) }, 15_000)
          const check = (): void => { if (node.getConnections().length === 0 || stream.status !== 'open') { clearTimeout(t); resolve(true) } else setTimeout(check, 100) }
          check()
        })
        console.log(`flow-control abuser: wrote ${(pushed / MiB).toFixed(0)} MiB before it was cut off (${stream.status}); relay RSS ${w.base.toFixed(0)} → peak ${w.peak().toFixed(0)} MiB`)
        assert.ok(cut, 'the relay cuts the abuser off')
        assert.ok(w.peak() - w.base < RSS_GROWTH_BOUND, `relay RSS grew ${(w.peak() - w.base).toFixed(0)} MiB`)
      } finally {
        lab.homes.c.proc.kill('SIGCONT')
      }
    } finally {
      await node.stop()
    }
    expectSha(await pushThrough(toB.port, 16 * MiB), 'A→B after the abuse')
    expectSha(await pushThrough(toC.port, 16 * MiB), 'A→C after the abuse')
    assert.equal(lab.relayProc.child.exitCode, null, 'the relay is still running')
  })
})
