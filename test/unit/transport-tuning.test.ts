import '../../src/polyfill.js'
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { cheapNoiseLengthDecoder, yamuxFlowControl } from '../../src/network/patches/transport-tuning.js'
import { YAMUX_SPEC_WINDOW } from '../../src/constants.js'

const MiB = 1024 * 1024
const WINDOW = 4 * MiB
const DATA = 0
const WINDOW_UPDATE = 1
const SYN = 1
const ACK = 2

interface Frame { type: number, flag: number, streamID: number, length: number }

/** Record every frame a muxer sends (streams bind `sendFrame` when they are created). */
function recordFrames (muxer: any): Frame[] {
  const frames: Frame[] = []
  const sendFrame = muxer.sendFrame.bind(muxer)
  muxer.sendFrame = (header: Frame, data?: any) => {
    frames.push({ ...header })
    return sendFrame(header, data)
  }
  return frames
}

/**
 * Send `bytes` from a muxer built by `sender` to one built by `receiver`
 * over an in-memory connection; both sides' frames are recorded. A transfer
 * that stops moving fails after `deadlineMs` with the byte count reached.
 */
async function transfer (sender: () => any, receiver: () => any, bytes: Buffer, deadlineMs = 20_000): Promise<{ received: Buffer, fromSender: Frame[], fromReceiver: Frame[] }> {
  const [ca, cb] = multiaddrConnectionPair()
  const muxA = sender().createStreamMuxer(ca)
  const muxB = receiver().createStreamMuxer(cb)
  const fromSender = recordFrames(muxA)
  const fromReceiver = recordFrames(muxB)
  const chunks: Uint8Array[] = []
  let got = 0
  let timer: NodeJS.Timeout | undefined
  const done = new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`stalled at ${got} of ${bytes.length} bytes`)) }, deadlineMs)
    muxB.addEventListener('stream', (evt: any) => {
      const s = evt.detail
      s.addEventListener('message', (m: any) => { const c = m.data.subarray(); chunks.push(c); got += c.byteLength })
      s.addEventListener('remoteCloseWrite', () => { resolve() })
      s.addEventListener('close', (e: any) => { if (e.error != null) reject(e.error) })
    })
  })
  done.catch(() => {})
  try {
    const stream = await muxA.createStream()
    // one frame per 64 KiB send, as from a TCP read: let each go out before the next
    for (let off = 0; off < bytes.length && muxA.status === 'open'; off += 64 * 1024) {
      stream.send(bytes.subarray(off, off + 64 * 1024))
      await new Promise(resolve => setImmediate(resolve))
    }
    await Promise.race([stream.close(), done])
    await done
  } finally {
    clearTimeout(timer)
    muxA.abort(new Error('done'))
    muxB.abort(new Error('done'))
  }
  return { received: Buffer.concat(chunks), fromSender, fromReceiver }
}

const tuned = (init: any = {}): (() => any) => yamuxFlowControl(yamux({ streamOptions: { maxStreamWindowSize: 6 * MiB, maxReadBufferLength: 15 * MiB }, ...init }), { initialWindow: WINDOW })
const stock = (init: any = {}): (() => any) => yamux(init)
const streamUpdates = (frames: Frame[]): Frame[] => frames.filter(f => f.type === WINDOW_UPDATE && f.streamID !== 0)

describe('transport tuning', () => {
  it('upstream: a yamux 8 stream takes both ends\' windows from initialStreamWindowSize (so it stays at the spec 256 KiB)', async () => {
    const [ca, cb] = multiaddrConnectionPair()
    for (const [size, conn] of [[undefined, ca], [WINDOW, cb]] as const) {
      const muxer: any = yamux(size == null ? {} : { streamOptions: { initialStreamWindowSize: size, maxStreamWindowSize: size } })().createStreamMuxer(conn)
      const s = await muxer.createStream()
      const expected = size ?? YAMUX_SPEC_WINDOW
      assert.equal(s.sendWindowCapacity, expected, 'assumes the remote granted this much')
      assert.equal(s.recvWindowCapacity, expected, 'assumes the remote believes it may send this much')
      assert.equal(s.recvWindow, expected)
      muxer.abort(new Error('done'))
    }
  })

  it('tuned sender to a stock receiver: starts at 256 KiB, grants the rest with the SYN, never overruns, frames <= 256 KiB', async () => {
    const data = randomBytes(16 * MiB)
    // a stock receiver throws ReceiveWindowExceededError (and aborts the muxer) on any overrun
    const r = await transfer(tuned(), stock(), data)
    assert.ok(r.received.equals(data), 'byte-exact')
    const syn = r.fromSender.find(f => (f.flag & SYN) !== 0)
    assert.deepEqual(syn && { type: syn.type, length: syn.length }, { type: WINDOW_UPDATE, length: WINDOW - YAMUX_SPEC_WINDOW }, 'the SYN grants the window above the spec')
    const biggest = Math.max(...r.fromSender.filter(f => f.type === DATA).map(f => f.length))
    assert.ok(biggest <= YAMUX_SPEC_WINDOW, `largest DATA frame ${biggest}`)
  })

  it('stock sender to a tuned receiver: the ACK goes out at once with the grant, then half-window updates', async () => {
    const data = randomBytes(16 * MiB)
    const r = await transfer(stock(), tuned(), data)
    assert.ok(r.received.equals(data), 'byte-exact')
    const updates = streamUpdates(r.fromReceiver)
    const first = r.fromReceiver.find(f => f.streamID !== 0)
    assert.deepEqual(first && { type: first.type, flag: first.flag, length: first.length },
      { type: WINDOW_UPDATE, flag: ACK, length: WINDOW - YAMUX_SPEC_WINDOW }, 'first stream frame back: ACK + grant')
    // the grant, then one per half window consumed (the window may grow), plus a few at boundaries
    assert.ok(updates.length <= 1 + Math.ceil(data.length / (WINDOW / 2)) + 2, `${updates.length} window updates`)
  })

  it('the old setup (initialStreamWindowSize 4 MiB) under the wrapper is put back on the spec: a stock sender gets through', async () => {
    // without the wrapper's reset both ends of the tuned side assume 4 MiB, grant only after 2 MiB, and a stock sender stops at 256 KiB
    const data = randomBytes(8 * MiB)
    const r = await transfer(stock(), tuned({ streamOptions: { initialStreamWindowSize: WINDOW, maxStreamWindowSize: 6 * MiB, maxReadBufferLength: 15 * MiB } }), data, 10_000)
    assert.ok(r.received.equals(data), 'byte-exact')
    const r2 = await transfer(tuned({ streamOptions: { initialStreamWindowSize: WINDOW, maxStreamWindowSize: 6 * MiB, maxReadBufferLength: 15 * MiB } }), stock(), data, 10_000)
    assert.ok(r2.received.equals(data), 'byte-exact the other way (a stock receiver aborts on any overrun)')
  })

  it('a tuned inbound stream that writes first (its ACK rides on DATA): a stock sender still gets the grant', async () => {
    // as a server banner does: the ACK leaves before the prompt grant, which then comes with the first update
    const [ca, cb] = multiaddrConnectionPair()
    const muxA: any = stock()().createStreamMuxer(ca)
    const muxB: any = tuned()().createStreamMuxer(cb)
    const data = randomBytes(8 * MiB)
    const chunks: Buffer[] = []
    const done = new Promise<void>((resolve) => {
      muxB.addEventListener('stream', (evt: any) => {
        const s = evt.detail
        s.send(Buffer.from('banner'))
        s.addEventListener('message', (m: any) => chunks.push(Buffer.from(m.data.subarray())))
        s.addEventListener('remoteCloseWrite', () => { resolve() })
      })
    })
    const s = await muxA.createStream()
    for (let off = 0; off < data.length; off += 64 * 1024) {
      s.send(data.subarray(off, off + 64 * 1024))
      await new Promise(resolve => setImmediate(resolve))
    }
    await s.close()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([done, new Promise((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`stalled at ${Buffer.concat(chunks).length} bytes`)) }, 10_000) })])
    clearTimeout(timer)
    assert.ok(Buffer.concat(chunks).equals(data))
    muxA.abort(new Error('done'))
    muxB.abort(new Error('done'))
  })

  it('tuned to tuned: window updates in half-window steps, frames <= 256 KiB, every byte arrives', async () => {
    const data = randomBytes(16 * MiB)
    const base = await transfer(stock({ streamOptions: { initialStreamWindowSize: WINDOW, maxStreamWindowSize: WINDOW } }),
      stock({ streamOptions: { initialStreamWindowSize: WINDOW, maxStreamWindowSize: WINDOW } }), data)
    const t = await transfer(tuned(), tuned(), data)
    const baseUpdates = streamUpdates(base.fromReceiver).length - 1 // minus the ACK
    const tunedUpdates = streamUpdates(t.fromReceiver).length
    const dataFrames = base.fromSender.filter(f => f.type === DATA).length
    console.log(`window updates for ${data.length / MiB} MiB: stock ${baseUpdates} (${dataFrames} data frames), tuned ${tunedUpdates}`)
    assert.ok(base.received.equals(data), 'stock yamux: byte-exact')
    assert.ok(t.received.equals(data), 'tuned: byte-exact')
    // stock yamux answers every DATA frame with a WINDOW_UPDATE
    assert.ok(baseUpdates >= dataFrames - 1, `stock: ${baseUpdates} updates for ${dataFrames} frames`)
    // about one update per half window; paused reads (a busy machine) add a few through the stock path
    assert.ok(tunedUpdates <= 2 * (1 + Math.ceil(data.length / (WINDOW / 2))) + 2, `tuned: ${tunedUpdates} updates`)
    // batched, not one per frame: the tuned sender's frames are <= 256 KiB, so at least 64 of
    // them (how many the stock sender makes depends on how Node schedules its sends)
    const tunedFrames = t.fromSender.filter(f => f.type === DATA).length
    assert.ok(tunedFrames >= data.length / YAMUX_SPEC_WINDOW, `tuned: ${tunedFrames} data frames`)
    assert.ok(tunedUpdates < tunedFrames / 4, `tuned: ${tunedUpdates} updates for ${tunedFrames} frames`)
    const biggest = Math.max(...t.fromSender.filter(f => f.type === DATA).map(f => f.length))
    assert.ok(biggest <= YAMUX_SPEC_WINDOW, `largest DATA frame ${biggest}`)
  })

  it('a muxer without the expected internals keeps stock behaviour and warns once', async () => {
    const warnings: Error[] = []
    const onWarning = (w: Error): void => { if ((w as any).code === 'PEERUP_TRANSPORT_TUNING') warnings.push(w) }
    process.on('warning', onWarning)
    try {
      const muxer = { createStream: () => 's' }
      const factory = yamuxFlowControl((..._args: any[]) => ({ createStreamMuxer: (_conn: unknown) => muxer }))
      assert.equal(factory().createStreamMuxer({}), muxer)
      assert.equal(factory().createStreamMuxer({}), muxer)
      await new Promise(resolve => setImmediate(resolve))
      assert.equal(warnings.length, 1)
      assert.match(warnings[0].message, /_newStream not found.*stock flow control/)
    } finally {
      process.off('warning', onWarning)
    }
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
