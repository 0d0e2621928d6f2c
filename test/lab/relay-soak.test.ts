/**
 * Soak: many short tunnels through the relay (real relay and home
 * processes; the client is the p2pnet library here). Every tunnel echoes
 * 4 KiB byte-exact; every 20 tunnels the client hangs up, so each batch
 * needs a new circuit (HOP/STOP streams, splice, reservation lookup).
 * Afterwards the open descriptors (/proc/<pid>/fd) and the V8 heap (status
 * socket and SIGUSR2 dump, after a full GC: the processes run with
 * --expose-gc) of relay and home are back to their baseline ±10%.
 * `PEERUP_SOAK_TUNNELS` sets the count (default 2000; `bench/soak.ts` runs 10,000).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { peerIdFromString } from '@libp2p/peer-id'
import { createPeerupNode, loadConfig, type PeerupNode, type TcpProxy } from '../../src/index.js'
import { Harness, echoServer } from '../fixtures/mesh.js'
import { relayStatus, soakTunnels, stateDump, startRelayLab, procFds, type RelayLab } from '../fixtures/relay-load.js'

const TUNNELS = Number(process.env.PEERUP_SOAK_TUNNELS ?? 2000)
const GC_ENV = { NODE_OPTIONS: '--expose-gc' }

describe(`soak: ${TUNNELS} short tunnels through the relay`, () => {
  const h = new Harness()
  let lab: RelayLab
  let a: PeerupNode
  let proxy: TcpProxy

  before(async () => {
    const echo = await echoServer(h)
    lab = await startRelayLab(h, { homes: { home: { echo: echo.port } }, relayEnv: GC_ENV, homeEnv: GC_ENV })
    a = await createPeerupNode({ config: loadConfig(lab.client.config), serve: false, listen: [] })
    await a.start()
    proxy = await a.proxy('home.grewal', 'echo', 0, { path: 'relay' })
  })
  after(async () => {
    await proxy?.close().catch(() => {})
    await a?.stop({ graceMs: 0 }).catch(() => {})
    await h.cleanup()
  })

  it('fds and heap of relay and home return to baseline ±10%', async () => {
    const home = lab.homes.home.proc
    const hangUp = async (): Promise<void> => { await a.libp2p.hangUp(peerIdFromString(lab.homes.home.dir.peerId)).catch(() => {}) }
    const measure = async (): Promise<{ relayFds: number, homeFds: number, relayHeap: number, homeHeap: number }> => {
      await hangUp()
      await new Promise(resolve => setTimeout(resolve, 1500))
      const rs = await relayStatus(lab.relay.dir)
      const hs = (await stateDump(home)).process
      return { relayFds: procFds(lab.relayProc.child.pid!), homeFds: procFds(home.child.pid!), relayHeap: rs.process.heapUsedMiB, homeHeap: hs.heapUsedMiB }
    }
    // warm-up: code paths compiled, caches filled
    const warm = await soakTunnels(proxy.port, 200, { batch: 20, onBatch: hangUp })
    assert.equal(warm.failed, 0, warm.errors.join('; '))
    const base = await measure()
    const t0 = Date.now()
    const r = await soakTunnels(proxy.port, TUNNELS, { batch: 20, onBatch: hangUp })
    const secs = (Date.now() - t0) / 1000
    const end = await measure()
    const st = await relayStatus(lab.relay.dir)
    console.log(`${r.ok}/${TUNNELS} tunnels byte-exact in ${secs.toFixed(0)} s (${st.circuitsOpened} circuits opened in all); relay fds ${base.relayFds} → ${end.relayFds}, heap ${base.relayHeap} → ${end.relayHeap} MiB; home fds ${base.homeFds} → ${end.homeFds}, heap ${base.homeHeap} → ${end.homeHeap} MiB`)
    assert.equal(r.failed, 0, `failed tunnels: ${r.errors.join('; ')}`)
    assert.ok(st.circuitsOpened >= TUNNELS / 20, `every batch used a new circuit (${st.circuitsOpened})`)
    assert.equal(st.activeCircuits, 0, 'no circuit left open')
    const within = (b: number, e: number, slack: number): boolean => e <= b * 1.1 + slack && e >= b * 0.9 - slack
    // fds: ±10% plus one descriptor of slack for a connection in its closing handshake
    assert.ok(within(base.relayFds, end.relayFds, 1), `relay fds ${base.relayFds} → ${end.relayFds}`)
    assert.ok(within(base.homeFds, end.homeFds, 1), `home fds ${base.homeFds} → ${end.homeFds}`)
    assert.ok(end.relayHeap <= base.relayHeap * 1.1, `relay heap ${base.relayHeap} → ${end.relayHeap} MiB`)
    assert.ok(end.homeHeap <= base.homeHeap * 1.1, `home heap ${base.homeHeap} → ${end.homeHeap} MiB`)
  })
})
