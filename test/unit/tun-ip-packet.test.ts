import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ICMP_UNREACHABLE, icmpUnreachable, internetChecksum, intToIpv4, ipv4ToInt, ipVersion, IP_PROTOCOL, parseIpv4 } from '../../src/tun/ip-packet.js'
import { icmpMessage, ipv4Packet } from '../fixtures/tun.js'

const ROUTER = ipv4ToInt('10.64.0.1')

/** RFC 1071 one's-complement sum, written independently of the module: 0xffff over a region whose checksum is right. */
function onesSum (b: Uint8Array): number {
  let sum = 0
  for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) + (i + 1 < b.length ? b[i + 1] : 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000)
  return sum
}

/** Check an ICMP destination-unreachable reply to `original`, and return the quoted bytes. */
function checkUnreachable (reply: Uint8Array | undefined, original: Uint8Array, code: number): Uint8Array {
  assert.ok(reply != null, 'an ICMP reply')
  const h = parseIpv4(reply)
  assert.ok(h != null, 'the reply parses as IPv4')
  assert.equal(reply[0], 0x45, 'IPv4, 20-byte header')
  assert.equal(h.totalLength, reply.length)
  assert.equal(h.protocol, IP_PROTOCOL.ICMP)
  assert.ok(reply[8] > 0, 'TTL')
  assert.equal(intToIpv4(h.src), '10.64.0.1')
  assert.equal(h.dst, parseIpv4(original)!.src, 'back to the sender')
  assert.equal(onesSum(reply.subarray(0, 20)), 0xffff, 'IPv4 header checksum')
  assert.equal(internetChecksum(reply, 0, 20), 0)
  const icmp = reply.subarray(20)
  assert.equal(onesSum(icmp), 0xffff, 'ICMP checksum')
  assert.equal(icmp[0], 3, 'destination unreachable')
  assert.equal(icmp[1], code)
  assert.deepEqual([...icmp.subarray(4, 8)], [0, 0, 0, 0], 'unused')
  return icmp.subarray(8)
}

describe('TUN IPv4 packets', () => {
  it('parses the header fields of a valid packet, with and without options', () => {
    const p = ipv4Packet({ src: '10.64.1.2', dst: '10.64.200.254', protocol: 6, payload: new Uint8Array(40) })
    assert.deepEqual(parseIpv4(p), { src: ipv4ToInt('10.64.1.2'), dst: ipv4ToInt('10.64.200.254'), protocol: 6, headerLength: 20, totalLength: 60 })
    assert.equal(ipVersion(p), 4)
    const o = ipv4Packet({ src: '255.255.255.255', dst: '0.0.0.0', options: new Uint8Array(8).fill(1), payload: new Uint8Array(0) })
    assert.deepEqual(parseIpv4(o), { src: 0xffffffff, dst: 0, protocol: 17, headerLength: 28, totalLength: 28 })
    // trailing bytes past the total length (link padding) are not part of the packet
    const padded = Buffer.concat([p, new Uint8Array(6)])
    assert.equal(parseIpv4(padded)?.totalLength, 60)
  })

  it('refuses truncated, inconsistent and non-IPv4 packets', () => {
    const p = ipv4Packet({ src: '10.64.1.2', dst: '10.64.1.3' })
    const mutate = (f: (b: Uint8Array) => void): Uint8Array => { const b = Uint8Array.from(p); f(b); return b }
    const bad: Array<[string, Uint8Array]> = [
      ['empty', new Uint8Array(0)],
      ['19 bytes', p.subarray(0, 19)],
      ['truncated payload', p.subarray(0, p.length - 1)],
      ['IHL below 5', mutate(b => { b[0] = 0x44 })],
      ['IHL past the end', mutate(b => { b[0] = 0x4f })],
      ['total length below the header', mutate(b => { b[2] = 0; b[3] = 19 })],
      ['total length past the end', mutate(b => { b[3]++ })],
      ['IPv6', mutate(b => { b[0] = 0x60 })],
      ['version 0', mutate(b => { b[0] = 0x05 })]
    ]
    for (const [what, b] of bad) assert.equal(parseIpv4(b), undefined, what)
    assert.equal(ipVersion(new Uint8Array(0)), 0)
    assert.equal(ipVersion(Uint8Array.of(0x60, 0, 0, 0)), 6)
  })

  it('converts dotted addresses to unsigned integers and back, NaN when malformed', () => {
    for (const ip of ['0.0.0.0', '10.64.0.1', '10.64.255.254', '192.168.1.1', '255.255.255.255', '128.0.0.0']) {
      const n = ipv4ToInt(ip)
      assert.ok(n >= 0 && n <= 0xffffffff, ip)
      assert.equal(intToIpv4(n), ip)
    }
    assert.equal(ipv4ToInt('10.64.1.2'), 0x0a400102)
    assert.equal(ipv4ToInt('255.255.255.255'), 0xffffffff)
    for (const bad of ['', '10.64.1', '10.64.1.256', '1.2.3.4.5', 'a.b.c.d', ' 10.64.0.1', '10.64.0.1 ', '::1', '1..2.3', '1000.1.1.1']) {
      assert.ok(Number.isNaN(ipv4ToInt(bad)), bad)
    }
  })

  it('computes the RFC 1071 checksum, odd lengths and ranges included', () => {
    // the worked example of RFC 1071 section 3: the sum is ddf2, its complement 220d
    const ex = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7)
    assert.equal(internetChecksum(ex), 0x220d)
    assert.equal(internetChecksum(Uint8Array.of(0xff, 0, 0xab, 0x01, 0xab), 1, 4), (~onesSum(Uint8Array.of(0, 0xab, 0x01))) & 0xffff)
    assert.equal(internetChecksum(new Uint8Array(0)), 0xffff)
    // a header with its checksum filled in sums to zero
    assert.equal(internetChecksum(ipv4Packet({ src: '10.64.9.9', dst: '10.64.1.1' }), 0, 20), 0)
  })

  it('builds a destination-unreachable reply from 10.64.0.1 with valid checksums, quoting the header and 8 payload bytes', () => {
    const payload = Uint8Array.from({ length: 100 }, (_, i) => i)
    const original = ipv4Packet({ src: '10.64.3.4', dst: '10.64.7.8', protocol: IP_PROTOCOL.UDP, payload })
    for (const code of [ICMP_UNREACHABLE.HOST, ICMP_UNREACHABLE.ADMIN_PROHIBITED]) {
      const reply = icmpUnreachable(original, code, ROUTER)
      const quoted = checkUnreachable(reply, original, code)
      assert.deepEqual(quoted, original.subarray(0, 28))
      assert.equal(reply!.length, 20 + 8 + 28)
    }
  })

  it('quotes header options, and a short payload whole (odd lengths checksum right)', () => {
    const withOptions = ipv4Packet({ src: '10.64.3.4', dst: '10.64.7.8', options: Uint8Array.of(1, 1, 1, 0, 1, 1, 1, 0), payload: new Uint8Array(30).fill(5) })
    assert.deepEqual(checkUnreachable(icmpUnreachable(withOptions, 1, ROUTER), withOptions, 1), withOptions.subarray(0, 28 + 8))
    for (const n of [0, 1, 3, 7, 8]) {
      const short = ipv4Packet({ src: '10.64.3.4', dst: '10.64.7.8', protocol: IP_PROTOCOL.TCP, payload: new Uint8Array(n).fill(0xc3) })
      // link padding after the total length is not quoted
      const padded = Buffer.concat([short, new Uint8Array(5).fill(0xee)])
      assert.deepEqual(checkUnreachable(icmpUnreachable(padded, 13, ROUTER), short, 13), short, `${n} payload bytes`)
    }
  })

  it('answers ICMP queries but never an ICMP error (RFC 1122 3.2.2), nor anything that is not IPv4', () => {
    const icmp = (type: number, code = 0): Uint8Array => ipv4Packet({ src: '10.64.3.4', dst: '10.64.7.8', protocol: IP_PROTOCOL.ICMP, payload: icmpMessage(type, code, new Uint8Array(32)) })
    // echo, timestamp, information and address-mask requests are answered
    for (const type of [8, 13, 15, 17]) {
      const original = icmp(type)
      assert.deepEqual(checkUnreachable(icmpUnreachable(original, 1, ROUTER), original, 1), original.subarray(0, 28), `type ${type}`)
    }
    // destination unreachable, source quench, redirect, time exceeded, parameter problem are errors
    for (const type of [3, 4, 5, 11, 12]) assert.equal(icmpUnreachable(icmp(type, 1), 1, ROUTER), undefined, `type ${type}`)
    // and an error about our own reply stops there
    const reply = icmpUnreachable(icmp(8), 1, ROUTER)!
    assert.equal(icmpUnreachable(reply, 1, ROUTER), undefined)

    assert.equal(icmpUnreachable(new Uint8Array(0), 1, ROUTER), undefined)
    assert.equal(icmpUnreachable(Uint8Array.from({ length: 48 }, (_, i) => i === 0 ? 0x60 : 0), 1, ROUTER), undefined, 'IPv6')
    assert.equal(icmpUnreachable(icmp(8).subarray(0, 30), 1, ROUTER), undefined, 'truncated')
  })

  it('answers only the first fragment of a datagram, and only a single-host source (RFC 1122 3.2.2)', () => {
    const udp = (src: string, fragment: number): Uint8Array => ipv4Packet({ src, dst: '10.64.7.8', fragment, payload: new Uint8Array(64).fill(3) })
    // first fragment with more-fragments set, and don't-fragment: answered
    for (const flags of [0x2000, 0x4000]) {
      const p = udp('10.64.3.4', flags)
      assert.deepEqual(checkUnreachable(icmpUnreachable(p, 1, ROUTER), p, 1), p.subarray(0, 28), `flags ${flags.toString(16)}`)
    }
    // a later fragment does not start with the transport header, and the first one was answered
    for (const frag of [0x2001, 0x0001, 0x1fff, 0x20b9]) assert.equal(icmpUnreachable(udp('10.64.3.4', frag), 1, ROUTER), undefined, `fragment ${frag.toString(16)}`)
    // a later fragment of an ICMP echo: its first payload byte is not an ICMP type
    const echoTail = ipv4Packet({ src: '10.64.3.4', dst: '10.64.7.8', protocol: IP_PROTOCOL.ICMP, fragment: 10, payload: Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 0) })
    assert.equal(icmpUnreachable(echoTail, 1, ROUTER), undefined, 'non-initial ICMP fragment')
    // sources that are not one host: this network, loopback, multicast, class E, broadcast
    for (const src of ['0.0.0.0', '0.1.2.3', '127.0.0.1', '224.0.0.251', '239.255.255.250', '240.0.0.1', '255.255.255.255']) {
      assert.equal(icmpUnreachable(udp(src, 0), 1, ROUTER), undefined, src)
    }
  })
})
