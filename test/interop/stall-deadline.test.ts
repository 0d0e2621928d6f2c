/**
 * The interop transfers never hang CI: a transfer whose peer stops taking
 * bytes (here a stock node that pauses the stream and never reads, so yamux
 * grants no more window) fails at its deadline with how far it got, and
 * the stream is torn down.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { payload } from '../fixtures/mesh.js'
import { createStockNode, exchangeOn } from '../fixtures/stock-libp2p.js'
import type { Libp2p } from '@libp2p/interface'

const MiB = 1024 * 1024
const PROTOCOL = '/interop/stall/1.0.0'

describe('a stalled interop transfer', { timeout: 60_000 }, () => {
  let a: Libp2p
  let b: Libp2p

  before(async () => {
    b = await createStockNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    a = await createStockNode()
    await b.handle(PROTOCOL, (stream) => { stream.pause() })
  })
  after(async () => {
    await Promise.all([a, b].map(async n => { await Promise.resolve(n?.stop()).catch(() => {}) }))
  })

  it('fails at its deadline with the byte count it reached, and the stream is closed', { timeout: 30_000 }, async () => {
    const stream = await a.dialProtocol(b.getMultiaddrs()[0], PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    const deadline = 3000
    const t0 = Date.now()
    await assert.rejects(exchangeOn(stream, payload(16 * MiB), deadline, 'paused peer'), (err: Error) => {
      assert.match(err.message, /^paused peer: stalled after \d+ ms at \d+ of 16777216 bytes sent, 0 received$/)
      return true
    })
    const took = Date.now() - t0
    assert.ok(took >= deadline - 50 && took < deadline + 2000, `failed after ${took} ms, deadline ${deadline} ms`)
    assert.notEqual(stream.status, 'open', 'the stalled stream was aborted')
  })
})
