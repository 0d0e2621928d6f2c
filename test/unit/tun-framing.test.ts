import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { createFrameDecoder, encodeFrames, FRAME_HEADER, MAX_FRAME_PACKET } from '../../src/tun/packet-framing.js'

function packets (sizes: number[]): Uint8Array[] {
  return sizes.map((n, i) => Uint8Array.from({ length: n }, (_, j) => (i * 31 + j * 7) & 0xff))
}

/** Decode `chunks` with a fresh decoder, copying every packet out of the callback. */
function decodeAll (chunks: Uint8Array[], maxPacket?: number): { out: Uint8Array[], pending: number } {
  const out: Uint8Array[] = []
  const d = createFrameDecoder(p => { out.push(Uint8Array.from(p)) }, maxPacket)
  for (const c of chunks) d.push(c)
  return { out, pending: d.pending }
}

describe('TUN packet framing', () => {
  it('encodes each packet as a 2-byte big-endian length and its bytes', () => {
    const wire = encodeFrames([Uint8Array.of(1, 2, 3), new Uint8Array(0x0102).fill(9)])
    assert.equal(FRAME_HEADER, 2)
    assert.equal(wire.length, 2 + 3 + 2 + 0x0102)
    assert.deepEqual([...wire.subarray(0, 5)], [0, 3, 1, 2, 3])
    assert.deepEqual([...wire.subarray(5, 7)], [0x01, 0x02])
    assert.ok(wire.subarray(7).every(b => b === 9))
    assert.equal(encodeFrames([]).length, 0)
  })

  it('round-trips many packets split at every byte boundary, in order, with nothing pending', () => {
    const sent = packets([1, 2, 20, 60, 255, 256, 257, 1500, 3, 1])
    const wire = encodeFrames(sent)
    for (let cut = 0; cut <= wire.length; cut++) {
      const { out, pending } = decodeAll([wire.subarray(0, cut), wire.subarray(cut)])
      assert.equal(pending, 0, `cut at ${cut}`)
      assert.deepEqual(out, sent, `cut at ${cut}`)
    }
    // and one byte at a time: the header itself split in two
    const { out, pending } = decodeAll([...wire].map(b => Uint8Array.of(b)))
    assert.equal(pending, 0)
    assert.deepEqual(out, sent)
  })

  it('holds an incomplete frame as pending and copies it, so the chunk buffer may be reused', () => {
    const sent = packets([10, 10])
    const wire = encodeFrames(sent)
    const out: Uint8Array[] = []
    const d = createFrameDecoder(p => { out.push(Uint8Array.from(p)) })
    const chunk = Uint8Array.from(wire.subarray(0, 17))
    d.push(chunk)
    assert.equal(out.length, 1)
    assert.equal(d.pending, 5, 'header + 3 bytes of the second frame')
    chunk.fill(0xee)
    d.push(wire.subarray(17))
    assert.deepEqual(out, sent)
    assert.equal(d.pending, 0)
  })

  it('carries the largest packet a frame allows and refuses empty or oversized packets with TunFrameError', () => {
    const big = new Uint8Array(MAX_FRAME_PACKET).fill(7)
    const wire = encodeFrames([big])
    assert.deepEqual([...wire.subarray(0, 2)], [0xff, 0xff])
    assert.deepEqual(decodeAll([wire]).out, [big])
    for (const p of [new Uint8Array(0), new Uint8Array(MAX_FRAME_PACKET + 1)]) {
      assert.throws(() => encodeFrames([Uint8Array.of(1), p]), { name: 'TunFrameError' }, `${p.length} bytes`)
    }
  })

  it('throws TunFrameError on a zero or oversized length, after delivering the frames before it', () => {
    const good = encodeFrames(packets([4]))
    const zero = Buffer.concat([good, Uint8Array.of(0, 0, 1, 2)])
    const out: Uint8Array[] = []
    const d = createFrameDecoder(p => { out.push(Uint8Array.from(p)) })
    assert.throws(() => { d.push(zero) }, { name: 'TunFrameError', message: /bad frame length 0/ })
    assert.equal(out.length, 1)

    // a length over maxPacket is corrupt even before its bytes arrive
    const over = createFrameDecoder(() => { assert.fail('no packet expected') }, 1500)
    assert.throws(() => { over.push(Uint8Array.of(0x05, 0xdd)) }, { name: 'TunFrameError', message: /bad frame length 1501 \(max 1500\)/ })
    // split header: the second byte makes it bad
    const split = createFrameDecoder(() => {}, 1500)
    split.push(Uint8Array.of(0x05))
    assert.throws(() => { split.push(Uint8Array.of(0xdd, 1, 2)) }, { name: 'TunFrameError' })
    // exactly maxPacket is fine
    assert.deepEqual(decodeAll([encodeFrames([new Uint8Array(1500)])], 1500).out, [new Uint8Array(1500)])
  })

  it('fuzz: valid frames in random chunks never throw and always decode to exactly the packets sent', () => {
    const packetArb = fc.uint8Array({ minLength: 1, maxLength: 700 })
    fc.assert(fc.property(
      fc.array(packetArb, { maxLength: 12 }),
      fc.array(fc.integer({ min: 0, max: 1 << 16 }), { maxLength: 20 }),
      (sent, cutSeeds) => {
        const wire = encodeFrames(sent)
        const cuts = [...new Set(cutSeeds.map(c => wire.length === 0 ? 0 : c % (wire.length + 1)))].sort((a, b) => a - b)
        const chunks: Uint8Array[] = []
        let prev = 0
        for (const c of [...cuts, wire.length]) { chunks.push(wire.subarray(prev, c)); prev = c }
        const { out, pending } = decodeAll(chunks)
        assert.deepEqual(out, sent)
        assert.equal(pending, 0)
      }
    ), { numRuns: 400 })
  })

  it('fuzz: random bytes either decode or throw TunFrameError, never anything else', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), fc.integer({ min: 1, max: 300 }), (chunks, maxPacket) => {
      const d = createFrameDecoder(p => { assert.ok(p.length >= 1 && p.length <= maxPacket) }, maxPacket)
      try {
        for (const c of chunks) d.push(c)
      } catch (err: any) {
        assert.equal(err.name, 'TunFrameError')
      }
    }), { numRuns: 400 })
  })
})
