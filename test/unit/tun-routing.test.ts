import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { checkInbound, routeOutbound } from '../../src/tun/crypto-key-routing.js'
import { ipv4ToInt } from '../../src/tun/ip-packet.js'
import { ipv4Packet } from '../fixtures/tun.js'

const OWN = ipv4ToInt('10.64.0.2')
const PEER = ipv4ToInt('10.64.9.9')
const BROADCAST = ipv4ToInt('10.64.255.255')

describe('TUN crypto-key routing', () => {
  it('accepts an inbound packet only from the sending peer\'s address to ours', () => {
    assert.equal(checkInbound(ipv4Packet({ src: '10.64.9.9', dst: '10.64.0.2' }), PEER, OWN), 'accept')
    // another mesh peer's address, the router's, or an outside address: spoofed
    for (const src of ['10.64.9.8', '10.64.0.1', '10.64.0.2', '192.168.1.5', '0.0.0.0']) {
      assert.equal(checkInbound(ipv4Packet({ src, dst: '10.64.0.2' }), PEER, OWN), 'spoofedSource', src)
    }
    // the peer's own address, but not to us: it may not use us as a router
    for (const dst of ['10.64.0.3', '10.64.9.9', '10.64.255.255', '224.0.0.1', '8.8.8.8']) {
      assert.equal(checkInbound(ipv4Packet({ src: '10.64.9.9', dst }), PEER, OWN), 'foreignDestination', dst)
    }
    // spoofing is checked first
    assert.equal(checkInbound(ipv4Packet({ src: '10.64.1.1', dst: '10.64.1.1' }), PEER, OWN), 'spoofedSource')
  })

  it('calls anything that is not a whole IPv4 packet malformed', () => {
    const good = ipv4Packet({ src: '10.64.9.9', dst: '10.64.0.2' })
    const v6 = Uint8Array.from(good); v6[0] = 0x60
    for (const [what, p] of [['IPv6', v6], ['truncated', good.subarray(0, good.length - 1)], ['header only', good.subarray(0, 19)], ['empty', new Uint8Array(0)]] as const) {
      assert.equal(checkInbound(p, PEER, OWN), 'malformed', what)
      assert.deepEqual(routeOutbound(p, () => 'peer', BROADCAST), { kind: 'malformed' }, what)
    }
  })

  it('routes an outbound packet to the peer that owns its destination', () => {
    const owners = new Map([[ipv4ToInt('10.64.9.9'), 'peerA'], [ipv4ToInt('10.64.1.1'), 'peerB']])
    const asked: number[] = []
    const lookup = (dst: number): string | undefined => { asked.push(dst); return owners.get(dst) }
    assert.deepEqual(routeOutbound(ipv4Packet({ src: '10.64.0.2', dst: '10.64.9.9' }), lookup, BROADCAST), { kind: 'peer', peerId: 'peerA', dst: ipv4ToInt('10.64.9.9') })
    assert.deepEqual(routeOutbound(ipv4Packet({ src: '10.64.0.2', dst: '10.64.1.1' }), lookup, BROADCAST), { kind: 'peer', peerId: 'peerB', dst: ipv4ToInt('10.64.1.1') })
    assert.deepEqual(asked, [ipv4ToInt('10.64.9.9'), ipv4ToInt('10.64.1.1')], 'looked up by destination only')
  })

  it('has no route to an unknown unicast address (reported), and drops broadcast and multicast silently', () => {
    const none = (): undefined => undefined
    const route = (dst: string): ReturnType<typeof routeOutbound> => routeOutbound(ipv4Packet({ src: '10.64.0.2', dst }), none, BROADCAST)
    for (const dst of ['10.64.7.7', '10.64.0.1', '10.64.255.254', '8.8.8.8', '223.255.255.255', '240.0.0.1']) {
      assert.deepEqual(route(dst), { kind: 'noRoute', dst: ipv4ToInt(dst), silent: false }, dst)
    }
    for (const dst of ['10.64.255.255', '255.255.255.255', '224.0.0.1', '224.0.0.251', '239.255.255.250']) {
      assert.deepEqual(route(dst), { kind: 'noRoute', dst: ipv4ToInt(dst), silent: true }, dst)
    }
  })
})
