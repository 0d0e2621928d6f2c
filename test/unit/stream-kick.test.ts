/**
 * The lost-wakeup kicker on a fake layer chain (stream → Noise → TCP
 * connection → socket), shaped as the internals it walks: each layer an
 * EventTarget with `writableNeedsDrain`, `writeBufferLength`, `send()` and
 * `stream`/`socket` for the layer below.
 */
import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createStreamKicker, streamKicker, type KickTarget, type StreamKicker } from '../../src/network/patches/stream-kick.js'

class Layer extends EventTarget {
  writableNeedsDrain = false
  writeBufferLength = 0
  sends = 0
  drains = 0
  stream?: any
  socket?: any
  sendWindowCapacity?: number
  status = 'open'
  id = 'fake'
  constructor () {
    super()
    this.addEventListener('drain', () => { this.drains++ })
  }

  send (): boolean { this.sends++; return true }
}

interface Chain { stream: Layer, noise: Layer, tcp: Layer, socket: { writableNeedDrain: boolean, write: () => boolean }, target: KickTarget }

function chain (): Chain {
  const socket = { writableNeedDrain: false, write: () => true }
  const tcp = new Layer(); tcp.socket = socket
  const noise = new Layer(); noise.stream = tcp
  const stream = new Layer(); stream.writeBufferLength = 1000
  const connection: any = { multiplexer: '/yamux/1.0.0', muxer: { maConn: noise }, streams: [stream] }
  return { stream, noise, tcp, socket, target: { stream: stream as any, connection } }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
async function until (cond: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) { if (cond()) return true; await sleep(5) }
  return cond()
}

function fakeLog (): any {
  const errors: unknown[][] = []
  return Object.assign((..._args: unknown[]) => {}, { errors, error: Object.assign((...a: unknown[]) => { errors.push(a) }, { enabled: true }), trace: () => {}, enabled: false })
}

describe('stream kicker (lost-wakeup watchdog)', () => {
  const kickers: StreamKicker[] = []
  const make = (intervalMs: number, log = fakeLog()): StreamKicker => { const k = createStreamKicker({ intervalMs, log }); kickers.push(k); return k }
  afterEach(() => { for (const k of kickers.splice(0)) k.stop() })

  it('replays a lost drain on the stream when the layer below is free', async () => {
    const c = chain()
    c.stream.writableNeedsDrain = true
    make(10).watch([c.target])
    assert.ok(await until(() => c.stream.drains > 0), 'drain replayed')
    assert.equal(c.noise.drains, 0)
  })

  it('kicks the first stuck layer whose lower layer is free (Noise waits, TCP does not)', async () => {
    const c = chain()
    c.stream.writableNeedsDrain = true
    c.noise.writableNeedsDrain = true
    make(10).watch([c.target])
    assert.ok(await until(() => c.noise.drains > 0), 'Noise drain replayed')
    assert.equal(c.stream.drains, 0)
  })

  it('re-runs the send queue of a layer that holds bytes without waiting for anything', async () => {
    const c = chain()
    // the stream holds 1000 bytes, does not wait for a drain, and Noise below it is free
    make(10).watch([c.target])
    assert.ok(await until(() => c.stream.sends > 0), 'empty send on the stream')
    assert.equal(c.stream.drains, 0)
  })

  it('walks below a relayed connection onto the connection that carries its circuit', async () => {
    // relayed: tunnel stream → Noise of the relayed connection → the circuit's yamux stream,
    // which rides the relay connection: its Noise → TCP → socket
    const lower = chain()
    const circuit = new Layer()
    circuit.sendWindowCapacity = 1024 // a yamux stream with window left; no stream/socket of its own
    ;(lower.target.connection as any).streams = [circuit]
    const relayedNoise = new Layer(); relayedNoise.stream = circuit
    const tunnel = new Layer(); tunnel.writeBufferLength = 1000; tunnel.writableNeedsDrain = true
    relayedNoise.writableNeedsDrain = true
    circuit.writableNeedsDrain = true
    lower.noise.writableNeedsDrain = true // stuck although TCP below it is free
    const relayed: any = { multiplexer: '/yamux/1.0.0', muxer: { maConn: relayedNoise }, streams: [tunnel] }
    make(10).watch([{ stream: tunnel as any, connection: relayed, connections: () => [relayed, lower.target.connection as any] }])
    assert.ok(await until(() => lower.noise.drains > 0), 'the relay connection\'s Noise drain replayed')
    assert.deepEqual([tunnel.drains, relayedNoise.drains, circuit.drains], [0, 0, 0])
  })

  it('leaves real backpressure alone: a full socket, or no yamux send window', async () => {
    const c = chain()
    c.stream.writableNeedsDrain = true
    c.noise.writableNeedsDrain = true
    c.tcp.writableNeedsDrain = true
    c.socket.writableNeedDrain = true
    const w = chain()
    w.stream.writableNeedsDrain = true
    w.stream.sendWindowCapacity = 0
    make(10).watch([c.target, w.target])
    await sleep(150)
    assert.deepEqual([c.stream.drains, c.noise.drains, c.tcp.drains, c.stream.sends, w.stream.drains, w.stream.sends], [0, 0, 0, 0, 0, 0])
  })

  it('a stream that makes progress is not kicked', async () => {
    const c = chain()
    c.stream.writableNeedsDrain = true
    const k = make(10)
    k.watch([c.target])
    const grow = setInterval(() => { c.stream.writeBufferLength++ }, 2)
    try { await sleep(150) } finally { clearInterval(grow) }
    assert.equal(c.stream.drains, 0)
  })

  it('each kicker keeps its own interval: a fast one elsewhere does not speed up a slow one', async () => {
    const slow = chain(); slow.stream.writableNeedsDrain = true
    const fast = chain(); fast.stream.writableNeedsDrain = true
    const ks = make(2000)
    ks.watch([slow.target])
    make(10).watch([fast.target])
    assert.ok(await until(() => fast.stream.drains > 0), 'fast kicker kicked')
    await sleep(100)
    assert.equal(slow.stream.drains, 0, 'slow kicker ticked at the fast interval')
    assert.equal(ks.intervalMs, 2000)
  })

  it('runs a timer only while it watches, and stop() ends all watching', async () => {
    const k = make(10)
    assert.equal(k.running, false)
    const a = chain(); a.stream.writableNeedsDrain = true
    const unwatch = k.watch([a.target])
    assert.equal(k.running, true)
    unwatch()
    assert.equal(k.running, false)
    k.watch([a.target])
    k.watch([chain().target])
    assert.equal(k.watching, 2)
    k.stop()
    assert.deepEqual([k.watching, k.running], [0, false])
    await sleep(80)
    assert.equal(a.stream.drains, 0, 'no kick after stop()')
  })

  it('logs one error when a yamux connection no longer exposes the layer below (a dependency changed)', () => {
    const log = fakeLog()
    const k = make(10, log)
    const broken = chain()
    ;(broken.target.connection as any).muxer = {}
    k.watch([broken.target])
    k.watch([chain().target, broken.target])
    assert.equal(log.errors.length, 1)
    assert.match(String(log.errors[0][1]), /muxer\.maConn/)
    const healthy = fakeLog()
    make(10, healthy).watch([chain().target])
    assert.equal(healthy.errors.length, 0)
  })

  it('as a libp2p service, the node\'s stop() stops it', () => {
    const svc = streamKicker({ intervalMs: 10 })({ logger: { forComponent: () => fakeLog() } })
    svc.start()
    svc.watch([chain().target])
    assert.equal(svc.running, true)
    svc.stop()
    assert.equal(svc.running, false)
  })
})
