/**
 * TUN mode without a kernel interface: the wire framing, the IPv4/ICMP
 * helpers, crypto-key routing, the per-peer links over fake streams and
 * `startTunMode` with a fake device. The real device, interface and
 * namespaces are covered by test/lab/tun.test.ts.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { createVirtualIpTable } from '../../src/index.js'
import { checkInbound, routeOutbound } from '../../src/tun/crypto-key-routing.js'
import { icmpUnreachable, intToIpv4, internetChecksum, ipv4ToInt, parseIpv4 } from '../../src/tun/ip-packet.js'
import { createFrameDecoder, encodeFrames } from '../../src/tun/packet-framing.js'
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

describe('TUN framing', () => {
  it('round-trips packets split at every byte boundary', () => {
    const packets = [randomBytes(1), randomBytes(300), randomBytes(1500), randomBytes(65535)]
    const wire = encodeFrames(packets)
    for (const cut of [1, 2, 3, 301, 304, 1805, wire.length - 1]) {
      const got: Buffer[] = []
      const d = createFrameDecoder(p => { got.push(Buffer.from(p)) })
      d.push(wire.subarray(0, cut))
      d.push(wire.subarray(cut))
      assert.deepEqual(got, packets.map(p => Buffer.from(p)), `cut at ${cut}`)
      assert.equal(d.pending, 0)
    }
    // byte by byte
    const got: Buffer[] = []
    const d = createFrameDecoder(p => { got.push(Buffer.from(p)) })
    for (let i = 0; i < wire.length; i++) d.push(wire.subarray(i, i + 1))
    assert.equal(got.length, 4)
    assert.deepEqual(got[3], Buffer.from(packets[3]))
  })

  it('refuses a zero or oversized length as a corrupt stream', () => {
    assert.throws(() => { createFrameDecoder(() => {}).push(new Uint8Array([0, 0, 1])) }, { name: 'TunFrameError' })
    assert.throws(() => { createFrameDecoder(() => {}, 1500).push(new Uint8Array([0x05, 0xdd])) }, { name: 'TunFrameError' })
    assert.throws(() => encodeFrames([new Uint8Array(0)]), { name: 'TunFrameError' })
    assert.throws(() => encodeFrames([new Uint8Array(65536)]), { name: 'TunFrameError' })
  })
})

describe('TUN IPv4 helpers', () => {
  it('parses well-formed IPv4 and nothing else', () => {
    const p = ipv4('10.64.1.2', '10.64.3.4')
    assert.deepEqual(parseIpv4(p), { src: ipv4ToInt('10.64.1.2'), dst: ipv4ToInt('10.64.3.4'), protocol: 17, headerLength: 20, totalLength: 28 })
    assert.equal(parseIpv4(p.subarray(0, 19)), undefined)
    assert.equal(parseIpv4(p.subarray(0, 27)), undefined, 'total length beyond the buffer')
    const v6 = new Uint8Array(40); v6[0] = 0x60
    assert.equal(parseIpv4(v6), undefined)
    assert.equal(intToIpv4(ipv4ToInt('10.64.255.1')), '10.64.255.1')
    assert.ok(Number.isNaN(ipv4ToInt('10.64.256.1')))
  })

  it('builds a checksummed ICMP unreachable that quotes the header and 8 bytes, and never answers an ICMP error', () => {
    const original = ipv4('10.64.1.2', '10.64.9.9', randomBytes(100))
    const icmp = icmpUnreachable(original, 13, ipv4ToInt('10.64.0.1'))!
    const h = parseIpv4(icmp)!
    assert.equal(intToIpv4(h.src), '10.64.0.1')
    assert.equal(intToIpv4(h.dst), '10.64.1.2')
    assert.equal(h.protocol, 1)
    assert.equal(internetChecksum(icmp, 0, 20), 0, 'IP header checksum')
    assert.equal(internetChecksum(icmp, 20, icmp.length), 0, 'ICMP checksum')
    assert.deepEqual([icmp[20], icmp[21]], [3, 13])
    assert.deepEqual(Buffer.from(icmp.subarray(28)), Buffer.from(original.subarray(0, 28)))
    // an ICMP error (type 3) gets no error back; an echo request does
    assert.equal(icmpUnreachable(ipv4('10.64.1.2', '10.64.9.9', new Uint8Array([3, 1, 0, 0, 0, 0, 0, 0]), 1), 1, 1), undefined)
    assert.notEqual(icmpUnreachable(ipv4('10.64.1.2', '10.64.9.9', new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0]), 1), 1, 1), undefined)
    // nor a later fragment, nor a source that is not one host (RFC 1122 3.2.2)
    const fragment = ipv4('10.64.1.2', '10.64.9.9', randomBytes(16)); fragment[7] = 2
    assert.equal(icmpUnreachable(fragment, 1, 1), undefined)
    assert.equal(icmpUnreachable(ipv4('0.0.0.0', '10.64.9.9'), 1, 1), undefined)
    assert.equal(icmpUnreachable(ipv4('224.0.0.5', '10.64.9.9'), 1, 1), undefined)
  })
})

describe('TUN crypto-key routing', () => {
  const peer = ipv4ToInt('10.64.1.2')
  const me = ipv4ToInt('10.64.3.4')
  it('accepts only the sending peer\'s source to our address', () => {
    assert.equal(checkInbound(ipv4('10.64.1.2', '10.64.3.4'), peer, me), 'accept')
    assert.equal(checkInbound(ipv4('10.64.7.7', '10.64.3.4'), peer, me), 'spoofedSource')
    assert.equal(checkInbound(ipv4('10.64.1.2', '10.64.5.5'), peer, me), 'foreignDestination')
    assert.equal(checkInbound(new Uint8Array(10), peer, me), 'malformed')
  })

  it('routes by destination; broadcast and multicast without ICMP', () => {
    const lookup = (d: number): string | undefined => d === peer ? 'P' : undefined
    const bcast = ipv4ToInt('10.64.255.255')
    assert.deepEqual(routeOutbound(ipv4('10.64.3.4', '10.64.1.2'), lookup, bcast), { kind: 'peer', peerId: 'P', dst: peer })
    assert.deepEqual(routeOutbound(ipv4('10.64.3.4', '10.64.8.8'), lookup, bcast), { kind: 'noRoute', dst: ipv4ToInt('10.64.8.8'), silent: false })
    assert.equal((routeOutbound(ipv4('10.64.3.4', '224.0.0.251'), lookup, bcast) as any).silent, true)
    assert.equal((routeOutbound(ipv4('10.64.3.4', '10.64.255.255'), lookup, bcast) as any).silent, true)
  })
})

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
