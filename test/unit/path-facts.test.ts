import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  circuitAddr, isCircuitAddr, isRelayedAddr, isRelayedConnection, isUdpDirectAddr, pathClassOf, peerIdOfAddr,
  rankConnections, relayAddrOf, relayPeerIdOf, reservationAddr, webrtcAddr
} from '../../src/paths/path-facts.js'
import { createDirectUpgrader } from '../../src/paths/direct-upgrade.js'
import { createPathManager } from '../../src/paths/path-manager.js'
import type { PeerupLibp2p } from '../../src/network/network.js'
import type { Connection } from '@libp2p/interface'

const R = '12D3KooWKXeTpyKNhG8jqNSJdPkajruf51En4vbbb6z6W1GHJXr5'
const P = '12D3KooWHY7CTS8gSU2AGYoEJgSp5Vp2LWXvuHCS8ZxPTMSaf2qV'
const RELAY = `/ip4/203.0.113.10/tcp/7777/p2p/${R}`
const TCP = `/ip4/198.51.100.2/tcp/4001/p2p/${P}`
const RELAYED = `${RELAY}/p2p-circuit/p2p/${P}`
const WEBRTC = `${RELAY}/p2p-circuit/webrtc/p2p/${P}`

interface FakeConn { id: string, remoteAddr: ReturnType<typeof multiaddr>, remotePeer: ReturnType<typeof peerIdFromString>, status: Connection['status'], streams: any[], closed: boolean, close: () => Promise<void>, abort: () => void, addEventListener: () => void }

function fakeConn (addr: string, id = addr): FakeConn {
  const c: FakeConn = {
    id,
    remoteAddr: multiaddr(addr),
    remotePeer: peerIdFromString(P),
    status: 'open',
    streams: [],
    closed: false,
    close: async () => { c.closed = true; c.status = 'closed' },
    abort: () => { c.closed = true; c.status = 'closed' },
    addEventListener: () => {}
  }
  return c
}

function fakeLibp2p (conns: FakeConn[]): PeerupLibp2p {
  return {
    status: 'started',
    getConnections: () => conns.filter(c => c.status === 'open'),
    addEventListener: () => {},
    removeEventListener: () => {}
  } as unknown as PeerupLibp2p
}

describe('path facts', () => {
  it('circuit (dialled through a relay) and relayed (data through a relay) are two questions', () => {
    assert.equal(isCircuitAddr(RELAYED), true)
    assert.equal(isCircuitAddr(WEBRTC), true)
    assert.equal(isCircuitAddr(TCP), false)
    assert.equal(isRelayedAddr(RELAYED), true)
    assert.equal(isRelayedAddr(WEBRTC), false, 'a WebRTC address signalled over a relay is direct UDP')
    assert.equal(isRelayedAddr(`/webrtc/p2p/${P}`), false)
    assert.equal(isUdpDirectAddr(`/webrtc/p2p/${P}`), true)
    assert.equal(isRelayedConnection(fakeConn(WEBRTC)), false)
    assert.equal(isRelayedConnection(fakeConn(RELAYED)), true)
    assert.deepEqual([TCP, RELAYED, WEBRTC, `/webrtc/p2p/${P}`].map(pathClassOf), ['direct-tcp', 'relayed', 'direct-udp', 'direct-udp'])
  })

  it('the relay of a circuit address, and the peer ID an address ends in', () => {
    assert.equal(relayAddrOf(RELAYED), RELAY)
    assert.equal(relayAddrOf(multiaddr(WEBRTC)), RELAY)
    assert.equal(relayAddrOf(TCP), undefined)
    assert.equal(relayPeerIdOf(RELAYED), R)
    assert.equal(relayPeerIdOf(WEBRTC), R)
    assert.equal(relayPeerIdOf(TCP), undefined)
    assert.equal(relayPeerIdOf('/ip4/203.0.113.10/tcp/7777/p2p-circuit/p2p/' + P), undefined, 'a circuit through a relay without peer ID names none')
    assert.equal(peerIdOfAddr(RELAY), R)
    assert.equal(peerIdOfAddr(RELAYED), P)
    assert.equal(peerIdOfAddr('/dns4/relay.example.net/tcp/7777'), undefined)
  })

  it('builds circuit, WebRTC and reservation addresses', () => {
    assert.equal(circuitAddr(RELAY, P).toString(), RELAYED)
    assert.equal(webrtcAddr(RELAY, P).toString(), WEBRTC)
    assert.equal(reservationAddr(RELAY).toString(), `${RELAY}/p2p-circuit`)
  })

  it('ranks open connections as new tunnels use them: TCP, UDP, relayed (or relayed first)', () => {
    const conns = [fakeConn(RELAYED), fakeConn(WEBRTC), fakeConn(TCP)]
    assert.deepEqual(rankConnections(conns).map(c => pathClassOf(c.remoteAddr)), ['direct-tcp', 'direct-udp', 'relayed'])
    assert.deepEqual(rankConnections(conns, { prefer: 'relay' }).map(c => pathClassOf(c.remoteAddr)), ['relayed', 'direct-udp', 'direct-tcp'])
    assert.deepEqual(rankConnections(conns, { exclude: c => c === conns[2] }).map(c => pathClassOf(c.remoteAddr)), ['direct-udp', 'relayed'])
  })
})

describe('direct upgrade: a WebRTC connection is direct UDP, not a relayed one to retire', () => {
  it('a direct TCP connection retires the relayed connection and keeps the WebRTC one', () => {
    const tcp = fakeConn(TCP)
    const webrtc = fakeConn(WEBRTC)
    const relayed = fakeConn(RELAYED)
    const upgrader = createDirectUpgrader(fakeLibp2p([tcp, webrtc, relayed]))
    try {
      upgrader.retireRelayed(peerIdFromString(P))
      assert.equal(relayed.closed, true, 'the relayed connection is superseded by the direct TCP one')
      assert.equal(webrtc.closed, false, 'the WebRTC connection is direct UDP: never retired as relayed')
      assert.equal(tcp.closed, false)
    } finally {
      upgrader.stop()
    }
  })

  it('a WebRTC connection alone does not retire the relayed one (it stays as the fallback)', () => {
    const webrtc = fakeConn(WEBRTC)
    const relayed = fakeConn(RELAYED)
    const upgrader = createDirectUpgrader(fakeLibp2p([webrtc, relayed]))
    try {
      upgrader.retireRelayed(peerIdFromString(P))
      assert.equal(relayed.closed, false)
      assert.equal(webrtc.closed, false)
    } finally {
      upgrader.stop()
    }
  })
})

describe('PathManager.explain: what the path to a peer is, of which class, and why', () => {
  const manager = (conns: FakeConn[], init: { prefer?: 'direct' | 'relay', udp?: { available: boolean, reason?: string } } = {}): ReturnType<typeof createPathManager> =>
    createPathManager({ libp2p: fakeLibp2p(conns), udp: init.udp ?? { available: true }, prefer: init.prefer })

  it('no connection: none, the next tunnel dials', () => {
    const m = manager([])
    const e = m.explain(P)
    m.stop()
    assert.equal(e.class, 'none')
    assert.match(e.reason, /no open connection/)
  })

  it('the class of the connection new tunnels take, with its relay', () => {
    const m = manager([fakeConn(RELAYED), fakeConn(WEBRTC), fakeConn(TCP)])
    assert.deepEqual(m.explain(P), { peerId: P, class: 'direct-tcp', remoteAddr: TCP, reason: 'direct TCP connection' })
    m.stop()
    const u = manager([fakeConn(RELAYED), fakeConn(WEBRTC)])
    const e = u.explain(P)
    u.stop()
    assert.equal(e.class, 'direct-udp')
    assert.equal(e.relay, R)
    assert.match(e.reason, /direct UDP \(WebRTC, hole-punched with signalling via/)
  })

  it('relayed, and why not direct: UDP unavailable, prefer relay, a suspect direct UDP connection', () => {
    const noUdp = manager([fakeConn(RELAYED)], { udp: { available: false, reason: 'turned off (paths.udp: false)' } })
    const a = noUdp.explain(P)
    noUdp.stop()
    assert.equal(a.class, 'relayed')
    assert.equal(a.relay, R)
    assert.match(a.reason, /^relayed: no direct UDP: turned off \(paths\.udp: false\)/)

    const viaRelay = manager([fakeConn(TCP), fakeConn(RELAYED)], { prefer: 'relay' })
    const b = viaRelay.explain(P)
    viaRelay.stop()
    assert.equal(b.class, 'relayed')
    assert.match(b.reason, /paths\.prefer is "relay"/)

    const webrtc = fakeConn(WEBRTC)
    const suspect = manager([webrtc, fakeConn(RELAYED)])
    suspect.suspect(webrtc as any, 'opening a stream took too long')
    const c = suspect.explain(P)
    suspect.stop()
    assert.equal(c.class, 'relayed')
    assert.match(c.reason, /stopped answering/)
  })
})
