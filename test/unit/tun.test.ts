/**
 * TUN mode without a kernel interface: moving links onto a better
 * connection, the writable-stream fallback, and the peers list with
 * revocation (the other unit tests are test/unit/tun-*.test.ts; the real
 * device, interface and namespaces are test/lab/tun.test.ts).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { createVirtualIpTable } from '../../src/index.js'
import { intToIpv4, internetChecksum, ipv4ToInt, parseIpv4 } from '../../src/tun/ip-packet.js'
import { encodeFrames } from '../../src/tun/packet-framing.js'
import { createPeerLinks } from '../../src/tun/peer-links.js'
import { startTunMode } from '../../src/tun/tun-mode.js'
import { peerIds } from '../fixtures/gateway.js'

/** An IPv4 packet of `protocol` from `src` to `dst` with `payload` (checksummed header). */
function ipv4 (src: string, dst: string, payload: Uint8Array = new Uint8Array(8), protocol = 17): Uint8Array {
  const p = new Uint8Array(20 + payload.length)
  p[0] = 0x45
  p[2] = p.length >> 8; p[3] = p.length & 0xff
  p[8] = 64
  p[9] = protocol
  const s = ipv4ToInt(src); const d = ipv4ToInt(dst)
  for (let i = 0; i < 4; i++) { p[12 + i] = (s >>> (24 - 8 * i)) & 0xff; p[16 + i] = (d >>> (24 - 8 * i)) & 0xff }
  const sum = internetChecksum(p, 0, 20)
  p[10] = sum >> 8; p[11] = sum & 0xff
  p.set(payload, 20)
  return p
}

/** A fake libp2p stream: records what is sent, delivers what the test pushes. */
class FakeStream extends EventTarget {
  status = 'open'
  writeStatus = 'writable'
  writeBufferLength = 0
  sent: Uint8Array[] = []
  aborted?: Error
  closed = false
  send (data: Uint8Array): boolean { this.sent.push(data); return true }
  async close (): Promise<void> { this.closed = true; this.writeStatus = 'closed' }
  abort (err: Error): void { this.aborted = err; this.status = 'aborted'; this.dispatchEvent(new Event('close')) }
  deliver (data: Uint8Array): void { const e: any = new Event('message'); e.data = data; this.dispatchEvent(e) }
}

const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

describe('TUN peer links', () => {
  it('queues while the link opens, then sends in order; a newer inbound stream takes over', async () => {
    let resolveOpen!: (s: FakeStream) => void
    const links = createPeerLinks({}, { open: async () => await new Promise<any>(resolve => { resolveOpen = s => { resolve({ stream: s, path: 'direct' }) } }) })
    const opened: string[] = []
    links.onLink = (_p, path, initiator) => { opened.push(`${path} ${String(initiator)}`) }
    assert.equal(links.send('P', new Uint8Array([0, 1, 7])), 'queued')
    assert.equal(links.send('P', new Uint8Array([0, 1, 8])), 'queued')
    const s1 = new FakeStream()
    resolveOpen(s1)
    await tick()
    assert.deepEqual(s1.sent.map(b => b[2]), [7, 8])
    assert.equal(links.send('P', new Uint8Array([0, 1, 9])), 'sent')
    assert.equal(links.pathOf('P'), 'direct')
    const s2 = new FakeStream()
    links.accept('P', s2 as any, 'relayed via R')
    assert.equal(links.send('P', new Uint8Array([0, 1, 10])), 'sent')
    assert.deepEqual(s2.sent.map(b => b[2]), [10])
    assert.deepEqual(opened, ['direct true', 'relayed via R false'])
    // the current stream closing for writing: the other open one carries on
    s2.writeStatus = 'closing'
    assert.equal(links.send('P', new Uint8Array([0, 1, 11])), 'sent')
    assert.equal(s1.sent.at(-1)![2], 11)
  })

  it('delivers packets from any of the peer\'s streams', () => {
    const links = createPeerLinks({}, { open: async () => { throw new Error('unused') } })
    const got: number[] = []
    links.onPacket = (_p, packet) => { got.push(packet[0]) }
    const s = new FakeStream()
    links.accept('P', s as any, 'direct')
    s.deliver(encodeFrames([new Uint8Array([1]), new Uint8Array([2])]))
    assert.deepEqual(got, [1, 2])
    // a corrupt frame aborts that stream
    s.deliver(new Uint8Array([0, 0]))
    assert.equal(s.aborted?.name, 'TunFrameError')
  })

  it('a failed open reports the queued frames and refuses for the retry interval', async () => {
    const links = createPeerLinks({ retryInterval: 60_000 }, { open: async () => { throw new Error('no route') } })
    let reported: { error: string, queued: number } | undefined
    links.onUnreachable = (_p, err, queued) => { reported = { error: err.message, queued: queued.length } }
    assert.equal(links.send('P', new Uint8Array([0, 1, 1])), 'queued')
    await tick()
    assert.deepEqual(reported, { error: 'no route', queued: 1 })
    assert.equal(links.send('P', new Uint8Array([0, 1, 1])), 'unreachable')
  })

  it('a failed open while the only stream is closing reports the queued frames instead of holding them', async () => {
    const links = createPeerLinks({ retryInterval: 60_000 }, { open: async () => { throw new Error('no route') } })
    let reported = -1
    links.onUnreachable = (_p, _err, queued) => { reported = queued.length }
    const s = new FakeStream()
    links.accept('P', s as any, 'direct')
    s.writeStatus = 'closing'
    assert.equal(links.send('P', new Uint8Array([0, 1, 1])), 'queued')
    await tick()
    assert.equal(reported, 1)
    assert.equal(links.send('P', new Uint8Array([0, 1, 2])), 'unreachable', 'no new dial before the retry interval')
  })

  it('drops past the write-buffer limit, and moving the link closes the older streams', async () => {
    const links = createPeerLinks({ maxWriteBuffer: 100 }, { open: async () => { throw new Error('unused') } })
    const s1 = new FakeStream()
    links.accept('P', s1 as any, 'relayed via R')
    s1.writeBufferLength = 101
    assert.equal(links.send('P', new Uint8Array([0, 1, 1])), 'congested')
    const s2 = new FakeStream()
    assert.equal(links.migrate('P', s2 as any, 'direct'), true)
    assert.equal(s1.closed, true)
    assert.equal(links.pathOf('P'), 'direct')
    assert.equal(links.send('P', new Uint8Array([0, 1, 2])), 'sent')
    // nothing to move without a link
    const s3 = new FakeStream()
    assert.equal(links.migrate('Q', s3 as any, 'direct'), false)
    assert.ok(s3.aborted != null)
    links.close('P', 'revoked')
    assert.equal(s2.aborted?.message, 'revoked')
  })
})

describe('startTunMode with a fake device', () => {
  async function setup (): Promise<any> {
    const [me, friend, stranger] = (await peerIds(3)).map(p => p.toString())
    const vips = createVirtualIpTable()
    const allowed = new Set([friend])
    const allow = Object.assign(new EventEmitter(), {
      isAuthorized: (p: string) => allowed.has(p),
      entries: () => [...allowed].map(peerId => ({ peerId }))
    })
    const written: Uint8Array[] = []
    const device: any = { name: 'peer9', onBatch: () => {}, onError: () => {}, write: (p: Uint8Array) => { written.push(Buffer.from(p)) }, close: async () => { device.closed = true } }
    let handler: any
    const libp2p: any = Object.assign(new EventTarget(), {
      handle: async (_p: string, h: any) => { handler = h },
      unhandle: async () => { libp2p.unhandled = true },
      getConnections: () => []
    })
    const streams: FakeStream[] = []
    const tun = await startTunMode({ address: vips.assign(me) }, {
      libp2p,
      peerId: me,
      vips,
      allow,
      openDevice: async () => device,
      configure: async () => {},
      unconfigure: async () => {},
      open: async () => { const s = new FakeStream(); streams.push(s); return { stream: s as any, path: 'direct' } }
    })
    return { tun, me, friend, stranger, vips, allowed, allow, device, written, streams, libp2p, handler: () => handler }
  }

  it('sends a packet for a peer\'s address on its link, and answers an unknown address with ICMP', async () => {
    const t = await setup()
    const mine = t.tun.address
    const theirs = t.vips.assign(t.friend)
    t.device.onBatch(encodeFrames([ipv4(mine, theirs, randomBytes(20))]))
    await tick()
    assert.equal(t.streams.length, 1)
    const frames = Buffer.concat(t.streams[0].sent)
    assert.equal(frames.readUInt16BE(0), 40)
    assert.equal(intToIpv4(frames.readUInt32BE(2 + 16)), theirs)
    t.device.onBatch(encodeFrames([ipv4(mine, '10.64.200.200')]))
    const icmp = t.written.at(-1)!
    assert.deepEqual([icmp[9], icmp[20], icmp[21]], [1, 3, 1], 'ICMP host unreachable')
    assert.equal(t.tun.stats().dropped.noRoute, 1)
    await t.tun.stop()
    assert.equal(t.device.closed, true)
    assert.equal(t.libp2p.unhandled, true)
  })

  it('writes an inbound packet from the peer\'s address; drops spoofed ones and strangers\' streams', async () => {
    const t = await setup()
    const theirs = t.vips.assign(t.friend)
    const s = new FakeStream()
    t.handler()(s, { remotePeer: { toString: () => t.friend }, remoteAddr: { toString: () => '/ip4/192.168.1.2/tcp/4001' } })
    s.deliver(encodeFrames([ipv4(theirs, t.tun.address), ipv4('10.64.77.77', t.tun.address)]))
    assert.equal(t.written.length, 1)
    assert.equal(intToIpv4(parseIpv4(t.written[0])!.src), theirs)
    assert.equal(t.tun.stats().dropped.spoofedSource, 1)
    const strange = new FakeStream()
    t.handler()(strange, { remotePeer: { toString: () => t.stranger }, remoteAddr: { toString: () => '/ip4/192.168.1.3/tcp/4001' } })
    assert.ok(strange.aborted != null)
    // revoking the friend closes its link
    t.allowed.delete(t.friend)
    t.allow.emit('change')
    assert.ok(s.aborted != null)
    assert.deepEqual(t.tun.peers(), [])
    await t.tun.stop()
  })
})
