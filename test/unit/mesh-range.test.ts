import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createConnectionGater } from '../../src/auth/gater.js'
import { isMeshAddress } from '../../src/network/mesh-range.js'
import { isStunDatagram } from '../../src/tun/ip-packet.js'
import { multiaddr } from '@multiformats/multiaddr'

/** An IPv4/UDP packet with `payload`, from 10.64.1.2:5000 to 10.64.3.4:6000. */
function udpPacket (payload: Uint8Array, opts: { fragmentOffset?: number, protocol?: number } = {}): Uint8Array {
  const p = new Uint8Array(28 + payload.length)
  p[0] = 0x45
  p[2] = p.length >> 8; p[3] = p.length & 0xff
  p[6] = (opts.fragmentOffset ?? 0) >> 8; p[7] = (opts.fragmentOffset ?? 0) & 0xff
  p[8] = 64
  p[9] = opts.protocol ?? 17
  p.set([10, 64, 1, 2], 12)
  p.set([10, 64, 3, 4], 16)
  p[20] = 5000 >> 8; p[21] = 5000 & 0xff; p[22] = 6000 >> 8; p[23] = 6000 & 0xff
  p[24] = (8 + payload.length) >> 8; p[25] = (8 + payload.length) & 0xff
  p.set(payload, 28)
  return p
}

/** A STUN Binding request with `attrBytes` bytes of attributes. */
function stun (attrBytes = 8): Uint8Array {
  const m = new Uint8Array(20 + attrBytes)
  m[0] = 0x00; m[1] = 0x01
  m[2] = attrBytes >> 8; m[3] = attrBytes & 0xff
  m.set([0x21, 0x12, 0xa4, 0x42], 4)
  return m
}

describe('mesh range', () => {
  it('recognises IPv4 multiaddrs inside 10.64.0.0/16 only', () => {
    for (const a of ['/ip4/10.64.0.1/tcp/4001', '/ip4/10.64.255.254/udp/1/webrtc-direct', '/ip4/10.64.17.3']) assert.equal(isMeshAddress(a), true, a)
    for (const a of ['/ip4/10.65.0.1/tcp/4001', '/ip4/10.63.255.255/tcp/1', '/ip4/192.168.1.10/tcp/4001', '/ip6/::1/tcp/1', '/dns4/10.64.0.1/tcp/1', '/ip4/10.640.0.1/tcp/1']) assert.equal(isMeshAddress(a), false, a)
    assert.equal(isMeshAddress(multiaddr('/ip4/10.64.9.9/tcp/1/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo')), true)
  })

  it('the gater refuses dials into the mesh range and allows the rest', async () => {
    const gater = createConnectionGater({ policy: { isAllowed: () => true } } as any)
    assert.equal(await gater.denyDialMultiaddr!(multiaddr('/ip4/10.64.3.4/tcp/4001')), true)
    assert.equal(await gater.denyDialMultiaddr!(multiaddr('/ip4/192.168.2.11/tcp/4001')), false)
  })
})

describe('ICE guard (isStunDatagram)', () => {
  it('matches STUN messages in UDP', () => {
    assert.equal(isStunDatagram(udpPacket(stun())), true)
    assert.equal(isStunDatagram(udpPacket(stun(0))), true)
  })

  it('leaves other datagrams alone', () => {
    // random payloads almost never pass all four checks
    const rnd = new Uint8Array(100).map((_, i) => (i * 37 + 11) & 0xff)
    assert.equal(isStunDatagram(udpPacket(rnd)), false)
    // a cookie but a length that does not fill the datagram (e.g. a DNS answer that happens to contain it)
    const short = stun(8); short[3] = 4
    assert.equal(isStunDatagram(udpPacket(short)), false)
    // first two bits set: not STUN (RTP, DTLS and QUIC live there)
    const rtp = stun(); rtp[0] = 0x80
    assert.equal(isStunDatagram(udpPacket(rtp)), false)
    // TCP with the same bytes, a later fragment, a truncated message
    assert.equal(isStunDatagram(udpPacket(stun(), { protocol: 6 })), false)
    assert.equal(isStunDatagram(udpPacket(stun(), { fragmentOffset: 3 })), false)
    assert.equal(isStunDatagram(udpPacket(new Uint8Array(10))), false)
  })
})
