/**
 * corkedTcp on real loopback sockets: a send of several buffers (a Noise
 * message is a length prefix, ciphertext and a tag) reaches the socket as one
 * corked `writev`, byte-exact, inbound and outbound, where the stock
 * transport writes each buffer on its own. And the Noise decoder patch says
 * once when the internal it replaces is gone.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { defaultLogger } from '@libp2p/logger'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { corkedTcp, noiseLengthDecoderPatch } from '../../src/network/patches/transport-tuning.js'

const pieces = (): Uint8Array[] => [Uint8Array.from([0, 5]), new TextEncoder().encode('hello'), new Uint8Array(16).fill(7)]
const expected = Buffer.concat(pieces())

/** Count the socket's write calls: `_writev` batches and single `_write`s. */
function spy (socket: any): { writev: number[], write: number } {
  const seen = { writev: [] as number[], write: 0 }
  const writev = socket._writev.bind(socket)
  const write = socket._write.bind(socket)
  socket._writev = (chunks: any[], cb: any) => { seen.writev.push(chunks.length); return writev(chunks, cb) }
  socket._write = (chunk: any, enc: any, cb: any) => { seen.write++; return write(chunk, enc, cb) }
  return seen
}

/** A fake upgrader that hands back the raw multiaddr connection. */
function capturing (): { upgrader: any, got: Promise<any> } {
  let resolve!: (c: any) => void
  const got = new Promise<any>(r => { resolve = r })
  const up = async (maConn: any): Promise<any> => { resolve(maConn); return maConn }
  return { upgrader: { upgradeOutbound: up, upgradeInbound: up }, got }
}

async function sink (): Promise<{ server: Server, port: number, received: (n: number) => Promise<Buffer> }> {
  const chunks: Buffer[] = []
  let waiter: (() => void) | undefined
  const server = createServer((s: Socket) => { s.on('data', (b) => { chunks.push(b); waiter?.() }) })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as any).port
  const received = async (n: number): Promise<Buffer> => {
    const end = Date.now() + 5000
    while (Buffer.concat(chunks).length < n && Date.now() < end) await new Promise<void>(resolve => { waiter = resolve; setTimeout(resolve, 50) })
    return Buffer.concat(chunks)
  }
  return { server, port, received }
}

describe('corkedTcp', () => {
  const cleanups: Array<() => void> = []
  after(() => { for (const c of cleanups) c() })

  for (const [label, factory, corked] of [['corkedTcp', corkedTcp, true], ['stock tcp (the reference)', tcp, false]] as const) {
    it(`${label}: an outbound send of three buffers is ${corked ? 'one writev' : 'three writes'}, byte-exact`, async () => {
      const s = await sink()
      cleanups.push(() => { s.server.close() })
      const transport: any = factory({})({ logger: defaultLogger() } as any)
      const { upgrader, got } = capturing()
      await transport.dial(multiaddr(`/ip4/127.0.0.1/tcp/${s.port}`), { upgrader, signal: AbortSignal.timeout(5000) })
      const maConn = await got
      cleanups.push(() => { maConn.socket.destroy() })
      const seen = spy(maConn.socket)
      const r = maConn.sendData(pieces())
      assert.equal(r.sentBytes, expected.length)
      assert.equal(r.canSendMore, true)
      assert.ok((await s.received(expected.length)).equals(expected), 'byte-exact')
      if (corked) assert.deepEqual([seen.writev, seen.write], [[3], 0])
      else assert.deepEqual([seen.writev, seen.write], [[], 3])
    })
  }

  it('corkedTcp: an inbound connection is corked too', async () => {
    const transport: any = corkedTcp({})({ logger: defaultLogger() } as any)
    const { upgrader, got } = capturing()
    const listener = transport.createListener({ upgrader })
    await listener.listen(multiaddr('/ip4/127.0.0.1/tcp/0'))
    cleanups.push(() => { void listener.close() })
    const port = Number(listener.getAddrs()[0].toString().split('/')[4])
    const chunks: Buffer[] = []
    const client = connect(port, '127.0.0.1')
    cleanups.push(() => { client.destroy() })
    client.on('data', (b) => { chunks.push(b) })
    const maConn = await got
    const seen = spy(maConn.socket)
    maConn.sendData(pieces())
    const end = Date.now() + 5000
    while (Buffer.concat(chunks).length < expected.length && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 20))
    assert.ok(Buffer.concat(chunks).equals(expected), 'byte-exact')
    assert.deepEqual(seen.writev, [3])
  })
})

describe('noiseLengthDecoderPatch', () => {
  const fakeLog = (): any => {
    const errors: unknown[][] = []
    return Object.assign(() => {}, { errors, error: Object.assign((...a: unknown[]) => { errors.push(a) }, { enabled: true }), trace: () => {}, enabled: false })
  }

  it('replaces the decoder of a Noise connection, silently', () => {
    const log = fakeLog()
    const decoder = { lengthDecoder: (_b: Uint8Array): number => 0 }
    const original = decoder.lengthDecoder
    noiseLengthDecoderPatch(log)({ encryption: '/noise', muxer: { maConn: { handshake: {}, decoder } } })
    assert.notEqual(decoder.lengthDecoder, original)
    assert.equal(decoder.lengthDecoder(Uint8Array.from([1, 2])), 258)
    assert.deepEqual(log.errors, [])
  })

  it('logs one error when a Noise connection lacks the decoder it replaces; other connections are left alone', () => {
    const log = fakeLog()
    const patch = noiseLengthDecoderPatch(log)
    patch({ encryption: 'native', muxer: {} }) // WebRTC: encrypted by DTLS, nothing to patch
    patch({ encryption: '/noise' }) // not upgraded to a muxer yet
    assert.equal(log.errors.length, 0)
    patch({ encryption: '/noise', muxer: { maConn: { handshake: {}, decoder: {} } } })
    patch({ encryption: '/noise', muxer: { maConn: { handshake: {}, decoder: {} } } })
    assert.equal(log.errors.length, 1)
    assert.match(String(log.errors[0][1]), /lengthDecoder/)
  })
})
