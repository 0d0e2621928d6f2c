import '../../src/polyfill.js'
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { batchWindowUpdates, cheapNoiseLengthDecoder } from '../../src/network/patches/transport-tuning.js'

const MiB = 1024 * 1024
const WINDOW = 4 * MiB

/** Send `bytes` a → b over a yamux pair built by `factory`; count b's window updates. */
async function transfer (factory: () => any, bytes: Buffer): Promise<{ received: Buffer, windowUpdates: number, dataFrames: number }> {
  const [ca, cb] = multiaddrConnectionPair()
  const muxA = factory().createStreamMuxer(ca)
  const muxB = factory().createStreamMuxer(cb)
  let windowUpdates = 0
  let dataFrames = 0
  const sendFrameB = muxB.sendFrame.bind(muxB)
  muxB.sendFrame = (header: any, data?: any) => {
    if (header.type === 1 && header.streamID !== 0) windowUpdates++ // FrameType.WindowUpdate
    return sendFrameB(header, data)
  }
  const sendFrameA = muxA.sendFrame.bind(muxA)
  muxA.sendFrame = (header: any, data?: any) => {
    if (header.type === 0) dataFrames++ // FrameType.Data
    return sendFrameA(header, data)
  }
  const chunks: Uint8Array[] = []
  const done = new Promise<void>((resolve) => {
    muxB.addEventListener('stream', (evt: any) => {
      const s = evt.detail
      s.addEventListener('message', (m: any) => { chunks.push(m.data.subarray()) })
      s.addEventListener('remoteCloseWrite', () => { resolve() })
    })
  })
  const stream = await muxA.createStream()
  // one frame per 64 KiB send, as from a TCP read: let each go out before the next
  for (let off = 0; off < bytes.length; off += 64 * 1024) {
    stream.send(bytes.subarray(off, off + 64 * 1024))
    await new Promise(resolve => setImmediate(resolve))
  }
  await stream.close()
  await done
  muxA.abort(new Error('done'))
  muxB.abort(new Error('done'))
  return { received: Buffer.concat(chunks), windowUpdates: windowUpdates - 1, dataFrames } // minus the ACK
}

describe('transport tuning', () => {
  const init = { streamOptions: { initialStreamWindowSize: WINDOW, maxStreamWindowSize: WINDOW, maxReadBufferLength: 15 * MiB } }

  it('batchWindowUpdates: yamux grants window in half-window steps, and every byte arrives', async () => {
    const data = randomBytes(16 * MiB)
    const stock = await transfer(yamux(init), data)
    const batched = await transfer(batchWindowUpdates(yamux(init)), data)
    console.log(`window updates for ${data.length / MiB} MiB: stock ${stock.windowUpdates} (${stock.dataFrames} data frames), batched ${batched.windowUpdates} (${batched.dataFrames})`)
    assert.ok(stock.received.equals(data), 'stock yamux: byte-exact')
    assert.ok(batched.received.equals(data), 'batched: byte-exact')
    // stock yamux answers every DATA frame with a WINDOW_UPDATE
    assert.ok(stock.windowUpdates >= stock.dataFrames - 1, `stock: ${stock.windowUpdates} updates for ${stock.dataFrames} frames`)
    // batched: at most one per half window consumed, plus a few at window boundaries
    assert.ok(batched.windowUpdates <= Math.ceil(data.length / (WINDOW / 2)) + 2, `batched: ${batched.windowUpdates} updates for ${batched.dataFrames} frames`)
    assert.ok(batched.windowUpdates < stock.windowUpdates / 4, `batched ${batched.windowUpdates} vs stock ${stock.windowUpdates}`)
  })

  it('cheapNoiseLengthDecoder: same lengths, and "need more" is a RangeError without a fresh stack', () => {
    const decoder: any = { lengthDecoder: () => 0 }
    cheapNoiseLengthDecoder({ muxer: { maConn: { handshake: {}, decoder } } })
    assert.equal(decoder.lengthDecoder(Uint8Array.from([0x12, 0x34, 0x56])), 0x1234)
    assert.equal(decoder.lengthDecoder({ byteLength: 3, getUint16: () => 0xfff0 }), 0xfff0)
    let first: unknown
    let second: unknown
    try { decoder.lengthDecoder(new Uint8Array(1)) } catch (err) { first = err }
    try { decoder.lengthDecoder(new Uint8Array(0)) } catch (err) { second = err }
    assert.ok(first instanceof RangeError)
    assert.equal(first, second, 'one preallocated error')
    // not a Noise connection: untouched
    const other: any = { lengthDecoder: () => 7 }
    cheapNoiseLengthDecoder({ muxer: { maConn: { decoder: other } } })
    assert.equal(other.lengthDecoder(), 7)
  })
})
