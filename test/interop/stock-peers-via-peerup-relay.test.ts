/**
 * Two stock js-libp2p nodes (published packages, default options), both
 * members of a real `peerup relay serve`: B reserves a slot, A dials B
 * through the circuit, and 64 MiB go each way at once.
 *
 * Regression for issue 22: peerup assumed a 4 MiB initial yamux window on
 * both ends, the spec fixes it at 256 KiB, and a stock sender stalled at
 * 192 KiB waiting for a window update that never came.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { addAuthorizedKey, editYamlFile } from '../../src/index.js'
import { Harness, freePort, payload, pollUntil, sha256 } from '../fixtures/mesh.js'
import { createStockNode, exchangeOn, type Exchange } from '../fixtures/stock-libp2p.js'
import type { Libp2p } from '@libp2p/interface'

const MiB = 1024 * 1024
const PROTOCOL = '/interop/bulk/1.0.0'
/** 64 MiB each way takes about 2 s here once it works; a stall is caught at this deadline. */
const DEADLINE = 60_000

describe('stock js-libp2p peers through a peerup relay', { timeout: 180_000 }, () => {
  const h = new Harness()
  const nodes: Libp2p[] = []
  let relayAddr: string
  let a: Libp2p
  let b: Libp2p
  let bSide: Promise<Exchange> | undefined
  let bData: Buffer

  before(async () => {
    const port = await freePort()
    const relay = await h.initNode('relay', 'relay', { listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    relayAddr = `/ip4/127.0.0.1/tcp/${port}/p2p/${relay.peerId}`
    const keyA = await generateKeyPair('Ed25519')
    const keyB = await generateKeyPair('Ed25519')
    addAuthorizedKey(join(relay.dir, 'authorized_keys'), peerIdFromPrivateKey(keyA).toString(), { comment: 'stock-a' })
    addAuthorizedKey(join(relay.dir, 'authorized_keys'), peerIdFromPrivateKey(keyB).toString(), { comment: 'stock-b' })
    // loopback only: no STUN responder on 0.0.0.0
    editYamlFile(relay.config, doc => { doc.setIn(['relay', 'stun', 'enabled'], false) })
    const relayProc = h.start(['--config', relay.config, 'relay', 'serve'])
    await relayProc.waitFor(/^ready$/m)

    b = await createStockNode({ privateKey: keyB, listen: [`${relayAddr}/p2p-circuit`] })
    nodes.push(b)
    const reserved = await pollUntil(async () => b.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit')), ok => ok, 20_000)
    assert.ok(reserved, 'B holds a reservation on the peerup relay')
    a = await createStockNode({ privateKey: keyA })
    nodes.push(a)
    await b.handle(PROTOCOL, (stream) => {
      bSide = exchangeOn(stream, bData, DEADLINE, 'B')
      bSide.catch(() => {}) // awaited by the test
    }, { runOnLimitedConnection: true })
  })
  after(async () => {
    await Promise.all(nodes.map(async n => { await Promise.resolve(n.stop()).catch(() => {}) }))
    await h.cleanup()
  })

  it('64 MiB each way at once through the circuit, byte-exact, within the deadline', { timeout: 120_000 }, async () => {
    const aData = payload(64 * MiB)
    bData = payload(64 * MiB)
    const stream = await a.dialProtocol(multiaddr(`${relayAddr}/p2p-circuit/p2p/${b.peerId.toString()}`), PROTOCOL, {
      runOnLimitedConnection: true,
      // the stream keeps this signal until protocol negotiation completes: give it the transfer's bound
      signal: AbortSignal.timeout(DEADLINE)
    })
    const t0 = Date.now()
    const aSide = await exchangeOn(stream, aData, DEADLINE, 'A')
    assert.ok(bSide != null, 'B saw the stream')
    const bDone = await bSide
    console.log(`stock pair via peerup relay: 2 x 64 MiB in ${Date.now() - t0} ms`)
    assert.equal(aSide.received.bytes, bData.length, 'A received all of B\'s bytes')
    assert.equal(aSide.received.sha256, sha256(bData))
    assert.equal(bDone.received.bytes, aData.length, 'B received all of A\'s bytes')
    assert.equal(bDone.received.sha256, sha256(aData))
  })
})
