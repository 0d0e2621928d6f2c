/**
 * Relay capacity: many peers hold reservations on one relay (a real
 * `peerup relay serve` process); lean peers in worker processes speak HOP
 * RESERVE over real TCP + Noise + yamux connections. The relay's RSS stays
 * under the 600 MiB target, every peer gets its slot, and the slots are
 * freed when the peers disconnect. `PEERUP_CAPACITY_PEERS` sets the count
 * (default 500; the bench measures 0/500/2000); `PEERUP_RELAY_NODE_OPTIONS`
 * sets the relay's NODE_OPTIONS.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { editYamlFile } from '../../src/index.js'
import { Harness, freePort, pollUntil, type NodeDir, type Proc } from '../fixtures/mesh.js'
import { procMem, relayStatus, startReserveWorker, type ReserveWorker } from '../fixtures/relay-load.js'
import { authorizeAll, leanPeerIds } from '../fixtures/relay-peers.js'

const PEERS = Number(process.env.PEERUP_CAPACITY_PEERS ?? 500)
const PER_WORKER = 250

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]
}

describe(`relay capacity: ${PEERS} reservations`, () => {
  const h = new Harness()
  let relay: NodeDir
  let relayProc: Proc
  let relayAddr: string
  const workers: ReserveWorker[] = []

  before(async () => {
    const port = await freePort()
    relay = await h.initNode('relay', 'relay', { listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    editYamlFile(relay.config, doc => { doc.setIn(['relay', 'max_reservations'], PEERS + 100) })
    authorizeAll(join(relay.dir, 'authorized_keys'), await leanPeerIds('capacity', PEERS))
    relayProc = h.start(['--config', relay.config, 'relay', 'serve'], process.env.PEERUP_RELAY_NODE_OPTIONS != null ? { env: { NODE_OPTIONS: process.env.PEERUP_RELAY_NODE_OPTIONS } } : {})
    await relayProc.waitFor(/^ready$/m, 30_000)
    relayAddr = `/ip4/127.0.0.1/tcp/${port}/p2p/${relay.peerId}`
  })
  after(async () => {
    await Promise.all(workers.map(async w => { await w.stop() }))
    await h.cleanup()
  })

  it(`${PEERS} peers reserve; relay RSS stays under 600 MiB; slots are freed on disconnect`, async () => {
    const pid = relayProc.child.pid!
    const base = procMem(pid).rss
    for (let from = 0; from < PEERS; from += PER_WORKER) workers.push(startReserveWorker(relayAddr, 'capacity', from, Math.min(PER_WORKER, PEERS - from), 8, 170_000))
    const reports = await Promise.all(workers.map(async w => await w.report))
    const times = reports.flatMap(r => r.times)
    const errors = reports.flatMap(r => r.errors)
    assert.equal(times.length, PEERS, `every peer reserves (failures: ${errors.join('; ')})`)
    const q0 = Date.now()
    const st = await relayStatus(relay.dir)
    console.log(`status query answered in ${Date.now() - q0} ms`)
    assert.equal(st.reservations, PEERS)
    const mem = procMem(pid)
    console.log(`relay with ${PEERS} reservations: RSS ${mem.rss.toFixed(1)} MiB (idle ${base.toFixed(1)}, peak ${mem.hwm.toFixed(1)}), heap ${st.process.heapUsedMiB} MiB, ${st.connections} connections, fds ${st.process.fds}; reservation time p50 ${pct(times, 50).toFixed(0)} ms, p99 ${pct(times, 99).toFixed(0)} ms`)
    assert.ok(mem.rss < 600, `relay RSS ${mem.rss.toFixed(1)} MiB with ${PEERS} reservations`)

    await Promise.all(workers.map(async w => { await w.stop() }))
    const after = await pollUntil(async () => await relayStatus(relay.dir), s => s.reservations === 0, 30_000, 500)
    assert.equal(after.reservations, 0, 'the slots of disconnected peers are freed')
    assert.equal(relayProc.child.exitCode, null, 'the relay is still running')
  })
})
