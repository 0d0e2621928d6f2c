/**
 * TUN mode with a fake device, a fake libp2p and a fake allow list around a
 * real virtual-IP table: routing, ICMP answers, crypto-key checks and
 * teardown, without creating an interface (the netns lab test covers the
 * real device).
 *
 * `stop()` always runs `ip link del dev <name>`, also with an injected
 * device; the fake device's name is longer than an interface name can be,
 * so that command can never remove a real interface.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createVirtualIpTable } from '../../src/gateway/virtual-ip.js'
import { intToIpv4, parseIpv4 } from '../../src/tun/ip-packet.js'
import { encodeFrames } from '../../src/tun/packet-framing.js'
import { startTunMode, type TunEvent, type TunMode, type TunModeInit } from '../../src/tun/tun-mode.js'
import { batch, fakeAllowList, fakeDevice, fakeLibp2p, fakeStream, ipv4Packet, peerIds, settle, type FakeAllowList, type FakeDevice, type FakeLibp2p, type FakeStream } from '../fixtures/tun.js'
import type { InterfaceConfig } from '../../src/tun/interface-config.js'
import type { Stream } from '@libp2p/interface'

const PROTOCOL = '/peerup/ip/1.0.0'

interface Harness {
  tun: TunMode
  device: FakeDevice
  libp2p: FakeLibp2p
  allow: FakeAllowList
  configured: InterfaceConfig[]
  /** Interfaces removed at stop. */
  removed: string[]
  events: TunEvent[]
  /** Every open: peer, protocol and how to settle it. */
  opens: Array<{ peerId: string, protocol: string, resolve: (s: FakeStream) => void, reject: (err: Error) => void }>
  /** This node's mesh address, and each allowed peer's. */
  own: string
  vip: (peerId: string) => string
}

describe('TUN mode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerup-unit-tun-'))
  let me: string, a: string, b: string, stranger: string
  let files = 0
  before(async () => { [me, a, b, stranger] = await peerIds(4) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  async function start (init: Partial<TunModeInit> = {}): Promise<Harness> {
    const vips = createVirtualIpTable({ file: join(dir, `vip-${++files}.json`) })
    const own = vips.assign(me)
    const { device, openDevice } = fakeDevice()
    const libp2p = fakeLibp2p()
    const allow = fakeAllowList([me, a, b])
    const configured: InterfaceConfig[] = []
    const removed: string[] = []
    const events: TunEvent[] = []
    const opens: Harness['opens'] = []
    const tun = await startTunMode({ address: own, interface: 'peerut0', onEvent: e => { events.push(e) }, ...init }, {
      libp2p: libp2p as any,
      peerId: me,
      vips,
      allow,
      openDevice,
      configure: async (c) => { configured.push(c) },
      unconfigure: async (name) => { removed.push(name) },
      open: async (peerId, protocol, { signal }) => await new Promise<{ stream: Stream, path: string }>((resolve, reject) => {
        signal.addEventListener('abort', () => { reject(signal.reason) })
        opens.push({ peerId, protocol, resolve: (s) => { resolve({ stream: s.stream, path: 'direct' }) }, reject })
      })
    })
    return { tun, device, libp2p, allow, configured, removed, events, opens, own, vip: (peerId) => vips.assign(peerId) }
  }

  /** Check `p` is an ICMP destination-unreachable with `code` from 10.64.0.1 about `original`. */
  function assertIcmp (p: Uint8Array | undefined, original: Uint8Array, code: number): void {
    assert.ok(p != null, 'an ICMP packet written to the device')
    const h = parseIpv4(p)
    assert.ok(h != null)
    assert.equal(h.protocol, 1)
    assert.equal(intToIpv4(h.src), '10.64.0.1')
    assert.equal(h.dst, parseIpv4(original)!.src)
    assert.equal(p[20], 3)
    assert.equal(p[21], code)
    assert.deepEqual(p.subarray(28), original.subarray(0, 28))
  }

  it('opens the device, configures the interface with the node\'s address and handles the protocol', async () => {
    const h = await start({ mtu: 9000 })
    assert.deepEqual(h.device.init, { name: 'peerut0', mtu: 9000 })
    assert.deepEqual(h.configured, [{ name: h.device.name, address: h.own, prefixLength: 16, mtu: 9000 }])
    assert.ok(h.libp2p.handlers.has(PROTOCOL))
    assert.equal(h.libp2p.handlers.get(PROTOCOL)!.options.runOnLimitedConnection, true, 'relayed peers too')
    assert.equal(h.allow.listeners(), 1)
    assert.equal(h.tun.interface, h.device.name)
    assert.equal(h.tun.address, h.own)
    assert.equal(h.tun.mtu, 9000)
    await h.tun.stop()
  })

  it('refuses a bad MTU or an address outside the mesh before opening a device, and cleans up when configuring fails', async () => {
    const vips = createVirtualIpTable()
    for (const [init, message] of [[{ address: '10.64.0.2', mtu: 575 }, /bad TUN MTU 575/], [{ address: '10.64.0.2', mtu: 65536 }, /bad TUN MTU/], [{ address: '10.65.0.2' }, /bad TUN address 10.65.0.2/], [{ address: 'x' }, /bad TUN address/]] as const) {
      const { device, openDevice } = fakeDevice()
      await assert.rejects(startTunMode(init, { libp2p: fakeLibp2p() as any, peerId: me, vips, allow: fakeAllowList([]), openDevice, configure: async () => {}, unconfigure: async () => {}, open: async () => { throw new Error('no') } }), { name: 'TunUnavailableError', message })
      assert.equal(device.init, undefined)
    }
    const { device, openDevice } = fakeDevice()
    const libp2p = fakeLibp2p()
    const allow = fakeAllowList([a])
    await assert.rejects(startTunMode({ address: '10.64.0.2' }, {
      libp2p: libp2p as any, peerId: me, vips, allow, openDevice, configure: async () => { throw new Error('RTNETLINK answers: Operation not permitted') }, unconfigure: async () => {}, open: async () => { throw new Error('no') }
    }), /Operation not permitted/)
    assert.equal(device.closed, true)
    assert.equal(libp2p.handlers.size, 0)
    assert.equal(allow.listeners(), 0)
  })

  it('sends an outbound packet to an allowed peer as a frame on that peer\'s link, runs of packets as one send', async () => {
    const h = await start()
    const toA = (n: number): Uint8Array => ipv4Packet({ src: h.own, dst: h.vip(a), id: n })
    const toB = ipv4Packet({ src: h.own, dst: h.vip(b) })
    h.device.onBatch(batch(toA(1)))
    assert.equal(h.opens.length, 1)
    assert.equal(h.opens[0].peerId, a)
    assert.equal(h.opens[0].protocol, PROTOCOL)
    const sa = fakeStream()
    h.opens[0].resolve(sa)
    await settle()
    assert.deepEqual(sa.sent, [encodeFrames([toA(1)])])
    assert.deepEqual(h.events.filter(e => e.type === 'link'), [{ type: 'link', peerId: a, path: 'direct', initiator: true }])

    h.device.onBatch(batch(toA(2), toA(3), toB, toA(4)))
    assert.deepEqual(sa.sent.slice(1), [encodeFrames([toA(2), toA(3)]), encodeFrames([toA(4)])])
    assert.equal(h.opens.length, 2)
    assert.equal(h.opens[1].peerId, b)
    const sb = fakeStream()
    h.opens[1].resolve(sb)
    await settle()
    assert.deepEqual(sb.sent, [encodeFrames([toB])])

    const s = h.tun.stats()
    assert.equal(s.sentPackets, 5)
    assert.equal(s.sentBytes, 5 * toB.length)
    assert.deepEqual(h.device.written, [], 'nothing answered locally')
    assert.equal(Object.values(s.dropped).reduce((x, y) => x + y, 0), 0)
    await h.tun.stop()
  })

  it('answers a packet to an unknown mesh address with ICMP host unreachable, and drops broadcast, multicast and IPv6 silently', async () => {
    const h = await start()
    const lost = ipv4Packet({ src: h.own, dst: '10.64.77.77', protocol: 6, payload: new Uint8Array(40).fill(1) })
    h.device.onBatch(batch(lost))
    assert.equal(h.device.written.length, 1)
    assertIcmp(h.device.written[0], lost, 1)
    const v6 = new Uint8Array(48); v6[0] = 0x60
    h.device.onBatch(batch(
      ipv4Packet({ src: h.own, dst: '10.64.255.255' }),
      ipv4Packet({ src: h.own, dst: '255.255.255.255' }),
      ipv4Packet({ src: h.own, dst: '224.0.0.251' }),
      v6
    ))
    assert.equal(h.device.written.length, 1)
    assert.equal(h.opens.length, 0)
    const s = h.tun.stats()
    assert.equal(s.icmpSent, 1)
    assert.equal(s.dropped.noRoute, 4)
    assert.equal(s.dropped.malformed, 1)
    assert.deepEqual(h.events[0], { type: 'drop', reason: 'noRoute', dst: '10.64.77.77' })
    await h.tun.stop()
  })

  it('answers packets to a peer whose link cannot open with ICMP admin-prohibited, queued ones included', async () => {
    const h = await start({ retryInterval: 60_000 })
    const p1 = ipv4Packet({ src: h.own, dst: h.vip(b), id: 1 })
    const p2 = ipv4Packet({ src: h.own, dst: h.vip(b), id: 2 })
    h.device.onBatch(batch(p1, p2))
    h.opens[0].reject(new Error('protocol selection failed'))
    await settle()
    assert.equal(h.device.written.length, 2)
    assertIcmp(h.device.written[0], p1, 13)
    assertIcmp(h.device.written[1], p2, 13)
    assert.deepEqual(h.events.find(e => e.type === 'unreachable'), { type: 'unreachable', peerId: b, error: 'protocol selection failed' })
    // while refusing, at once and without another open
    const p3 = ipv4Packet({ src: h.own, dst: h.vip(b), id: 3 })
    h.device.onBatch(batch(p3))
    assert.equal(h.opens.length, 1)
    assertIcmp(h.device.written[2], p3, 13)
    const s = h.tun.stats()
    assert.equal(s.dropped.unreachable, 3)
    assert.equal(s.icmpSent, 3)
    await h.tun.stop()
  })

  it('drops packets to a congested link', async () => {
    const h = await start({ maxWriteBuffer: 100 })
    const p = ipv4Packet({ src: h.own, dst: h.vip(a) })
    h.device.onBatch(batch(p))
    const sa = fakeStream()
    h.opens[0].resolve(sa)
    await settle()
    sa.writeBufferLength = 101
    h.device.onBatch(batch(p, p))
    assert.equal(sa.sent.length, 1)
    assert.equal(h.tun.stats().dropped.congested, 2)
    assert.deepEqual(h.device.written, [], 'congestion is not answered with ICMP')
    await h.tun.stop()
  })

  it('writes inbound packets from an allowed peer to the device, and drops and counts spoofed, misdirected and malformed ones', async () => {
    const h = await start()
    const s = fakeStream()
    await h.libp2p.inbound(PROTOCOL, a, s)
    assert.deepEqual(h.events.at(-1), { type: 'link', peerId: a, path: 'direct', initiator: false })
    const good = ipv4Packet({ src: h.vip(a), dst: h.own, payload: new Uint8Array(100).fill(4) })
    const spoofed = ipv4Packet({ src: h.vip(b), dst: h.own })
    const foreign = ipv4Packet({ src: h.vip(a), dst: h.vip(b) })
    const v6 = new Uint8Array(40); v6[0] = 0x60
    const wire = encodeFrames([good, spoofed, foreign, v6, good])
    s.receive(wire.subarray(0, 7))
    s.receive(wire.subarray(7))
    assert.deepEqual(h.device.written, [good, good])
    const st = h.tun.stats()
    assert.equal(st.receivedPackets, 2)
    assert.equal(st.receivedBytes, 2 * good.length)
    assert.equal(st.dropped.spoofedSource, 1)
    assert.equal(st.dropped.foreignDestination, 1)
    assert.equal(st.dropped.malformed, 1)
    assert.deepEqual(h.events.find(e => e.type === 'drop' && e.reason === 'spoofedSource'), { type: 'drop', reason: 'spoofedSource', peerId: a, src: h.vip(b), dst: h.own })
    // the inbound stream serves outbound packets too
    const out = ipv4Packet({ src: h.own, dst: h.vip(a) })
    h.device.onBatch(batch(out))
    assert.deepEqual(s.sent, [encodeFrames([out])])
    assert.equal(h.opens.length, 0)
    // a device write error is counted, not thrown
    h.device.failWrites = true
    s.receive(encodeFrames([good]))
    assert.equal(h.tun.stats().dropped.writeError, 1)
    assert.equal(h.tun.stats().receivedPackets, 2)
    await h.tun.stop()
  })

  it('refuses a stream from a peer outside the allow list', async () => {
    const h = await start()
    const s = fakeStream()
    await h.libp2p.inbound(PROTOCOL, stranger, s)
    assert.equal(s.status, 'aborted')
    assert.match(s.abortedWith!.message, /not allowed/)
    assert.deepEqual(h.events, [{ type: 'drop', reason: 'notAllowed', peerId: stranger }])
    // its address has no route either
    const p = ipv4Packet({ src: h.own, dst: h.vip(stranger) })
    h.device.onBatch(batch(p))
    assertIcmp(h.device.written[0], p, 1)
    await h.tun.stop()
  })

  it('closes a peer\'s link when the allow list no longer has it, and routes to it no more', async () => {
    const h = await start()
    const sa = fakeStream()
    const sb = fakeStream()
    await h.libp2p.inbound(PROTOCOL, a, sa)
    await h.libp2p.inbound(PROTOCOL, b, sb)
    h.allow.set([me, b])
    assert.equal(sa.status, 'aborted')
    assert.match(sa.abortedWith!.message, /no longer allowed/)
    assert.equal(sb.status, 'open')

    const toA = ipv4Packet({ src: h.own, dst: h.vip(a) })
    h.device.onBatch(batch(toA))
    assertIcmp(h.device.written[0], toA, 1)
    assert.equal(h.opens.length, 0)
    const again = fakeStream()
    await h.libp2p.inbound(PROTOCOL, a, again)
    assert.equal(again.status, 'aborted')

    // and back
    h.allow.set([me, a, b])
    const s2 = fakeStream()
    await h.libp2p.inbound(PROTOCOL, a, s2)
    assert.equal(s2.status, 'open')
    await h.tun.stop()
  })

  it('stop() unhandles the protocol, closes the links and the device, stops listening to the allow list; twice is fine', async () => {
    const h = await start()
    const sa = fakeStream()
    await h.libp2p.inbound(PROTOCOL, a, sa)
    h.device.onBatch(batch(ipv4Packet({ src: h.own, dst: h.vip(b) })))
    assert.equal(h.opens.length, 1)
    await Promise.all([h.tun.stop(), h.tun.stop()])
    assert.deepEqual(h.libp2p.unhandled, [PROTOCOL])
    assert.equal(h.libp2p.handlers.size, 0)
    assert.equal(h.device.closed, true)
    assert.deepEqual(h.removed, [h.device.name], 'the interface is removed once')
    assert.equal(sa.status, 'aborted')
    assert.equal(h.allow.listeners(), 0)
    await settle()
    assert.equal(h.events.some(e => e.type === 'unreachable'), false, 'an open cut short by stop() is not a failure')
    assert.deepEqual(h.device.written, [])
    await h.tun.stop()
    assert.deepEqual(h.libp2p.unhandled, [PROTOCOL])
  })
})
