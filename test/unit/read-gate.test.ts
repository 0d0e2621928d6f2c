import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createReadGate } from '../../src/tunnels/read-gate.js'
import type { ReadGate } from '../../src/tunnels/read-gate.js'
import type { Stream } from '@libp2p/interface'

/**
 * A stream with @libp2p/utils 7.4's `resume()`: it dispatches the buffered
 * messages synchronously and sets `readStatus` to `readable` only after the
 * loop, so a `pause()` called from a message handler is undone.
 */
function fakeStream (buffered: number, onMessage: (gate: ReadGate, n: number) => void): { stream: Stream, gate: ReadGate, delivered: () => number } {
  let delivered = 0
  let left = buffered
  const s: any = { readStatus: 'paused' }
  const gate = createReadGate(s as Stream)
  s.pause = () => { s.readStatus = 'paused' }
  s.resume = () => {
    while (left > 0) {
      left--
      delivered++
      onMessage(gate, delivered)
    }
    s.readStatus = 'readable'
  }
  return { stream: s as Stream, gate, delivered: () => delivered }
}

describe('read gate (the resume() handling of both splices)', () => {
  it('a pause asked for while resume() dispatches holds after resume() returns', () => {
    const { stream, gate, delivered } = fakeStream(5, (g, n) => { if (n === 2) g.pause() })
    gate.resume()
    assert.equal(stream.readStatus, 'paused', 'the destination was full: the stream must stay paused')
    assert.equal(delivered(), 5, 'what resume() had buffered is still dispatched')
    assert.equal(gate.pauseAfterResume, true)
    assert.equal(gate.resuming, false)
  })

  it('resume() without a pause leaves the stream readable; pause() outside resume() pauses at once', () => {
    const { stream, gate } = fakeStream(3, () => {})
    gate.resume()
    assert.equal(stream.readStatus, 'readable')
    gate.pause()
    assert.equal(stream.readStatus, 'paused')
  })

  it('resume() of a stream that is not paused does nothing', () => {
    let calls = 0
    const s: any = { readStatus: 'readable', resume: () => { calls++ }, pause: () => {} }
    createReadGate(s as Stream).resume()
    assert.equal(calls, 0)
  })
})
