/**
 * Abuse does not starve the other members. Relay and home are real
 * processes; the legitimate client is the p2pnet library here, pinging an
 * echo service through the relay over one open tunnel. Two abusers, each in
 * its own process, run at once: a member opening circuits to the home in a
 * tight loop (the per-peer circuit rate limit refuses most), and a
 * non-member handshake flood (fresh keys; the gater refuses them after
 * Noise). The legitimate member keeps working with bounded latency (the
 * < 2× baseline target is the bench's), and the relay's RSS stays bounded.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createPeerupNode, loadConfig, type PeerupNode, type TcpProxy } from '../../src/index.js'
import { Harness, echoServer } from '../fixtures/mesh.js'
import { echoRtts, procMem, relayStatus, startAbuser, startRelayLab, type RelayLab } from '../fixtures/relay-load.js'
import { leanPeerIds } from '../fixtures/relay-peers.js'

const ABUSE_MS = 15_000

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]
}

describe('relay abuse: circuit loop and handshake flood', () => {
  const h = new Harness()
  let lab: RelayLab
  let a: PeerupNode
  let proxy: TcpProxy
  const abusers: Array<{ child: { kill: (s?: NodeJS.Signals) => boolean } }> = []

  before(async () => {
    const echo = await echoServer(h)
    lab = await startRelayLab(h, { homes: { home: { echo: echo.port } }, extraMembers: await leanPeerIds('abuse', 1), relayConfig: doc => { doc.setIn(['daemon', 'allow_hosts'], doc.createNode([])) } })
    a = await createPeerupNode({ config: loadConfig(lab.client.config), serve: false, listen: [] })
    await a.start()
    proxy = await a.proxy('home.grewal', 'echo', 0, { path: 'relay' })
  })
  after(async () => {
    for (const ab of abusers) ab.child.kill('SIGKILL')
    await proxy?.close().catch(() => {})
    await a?.stop({ graceMs: 0 }).catch(() => {})
    await h.cleanup()
  })

  it('the legitimate member keeps working with bounded latency; relay memory bounded; abusers are refused', async () => {
    const pid = lab.relayProc.child.pid!
    await echoRtts(proxy.port, 20)
    const base = await echoRtts(proxy.port, 150)
    assert.equal(base.failed, 0)
    const rss0 = procMem(pid).rss
    let rssPeak = rss0
    let maxPeers = 0
    const sampler = setInterval(() => {
      try { rssPeak = Math.max(rssPeak, procMem(pid).rss) } catch {}
      relayStatus(lab.relay.dir).then(s => { maxPeers = Math.max(maxPeers, s.peers) }, () => {})
    }, 200)
    try {
      const loop = startAbuser('circuits', lab.relayAddr, lab.homes.home.dir.peerId, ABUSE_MS, 16)
      const flood = startAbuser('handshakes', lab.relayAddr, '-', ABUSE_MS, 16)
      abusers.push(loop, flood)
      // let both get going before measuring
      await new Promise(resolve => setTimeout(resolve, 3000))
      const during = await echoRtts(proxy.port, 150, { timeoutMs: 10_000 })
      const [loopCounts, floodCounts] = await Promise.all([loop.done, flood.done])
      const st = await relayStatus(lab.relay.dir)
      console.log(`echo RTT via relay: baseline p50 ${pct(base.rtts, 50).toFixed(2)} ms p99 ${pct(base.rtts, 99).toFixed(2)} ms; under abuse p50 ${pct(during.rtts, 50).toFixed(2)} ms p99 ${pct(during.rtts, 99).toFixed(2)} ms (${during.failed} failed)`)
      console.log(`circuit loop: ${JSON.stringify(loopCounts)}; handshake flood: ${JSON.stringify(floodCounts)}; relay refused ${st.circuitsRefused} circuits (${st.refusedByLimit} by a limit); relay RSS ${rss0.toFixed(0)} → peak ${rssPeak.toFixed(0)} MiB`)
      assert.equal(during.failed, 0, 'every legitimate echo came back')
      assert.ok(pct(during.rtts, 50) < Math.max(250, 20 * pct(base.rtts, 50)), `legitimate echo p50 ${pct(during.rtts, 50)} ms under abuse`)
      assert.ok(st.refusedByLimit > 0, 'the circuit rate limit refused the loop')
      assert.ok(st.peersPenalized >= 1, 'the looping member was put in the penalty box')
      assert.match(lab.relayProc.stderr(), /keeps opening circuits past its rate limit: disconnected and refused for 60 s/, 'the operator sees the penalty in the log')
      assert.ok((loopCounts['status 100'] ?? 0) <= (ABUSE_MS / 1000 + 2) * 20 + 40, `the loop got at most ~20 circuits/s (${loopCounts['status 100']})`)
      console.log(`relay status after the abuse: ${st.peersPenalized} peer(s) penalized, ${st.peers} peers connected`)
      assert.equal(floodCounts.served ?? 0, 0, 'no non-member was served')
      assert.ok((floodCounts.dialled ?? 0) + Object.entries(floodCounts).filter(([k]) => k.startsWith('refused')).reduce((n, [, v]) => n + v, 0) > 0, 'the flood ran')
      assert.ok(maxPeers <= 3, `the relay never held more than its 3 members (home, client, the looping member): ${maxPeers}`)
      assert.ok(rssPeak - rss0 < 150, `relay RSS grew ${(rssPeak - rss0).toFixed(0)} MiB under abuse`)
    } finally {
      clearInterval(sampler)
    }
    const after = await echoRtts(proxy.port, 20)
    assert.equal(after.failed, 0, 'the legitimate member works after the abuse')
    assert.equal(lab.relayProc.child.exitCode, null, 'the relay is still running')
  })
})
