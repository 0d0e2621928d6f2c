import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { announceableAddrs, dialableRemoteAddrs, isLoopbackAddr } from '../../src/network/loopback-addrs.js'

const PEER = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
const RELAY = '12D3KooWFdh5zWGqWeVYEZyBrP92hR2tdhScH8zhwMQjEZMjLSqt'
const circuit = `/ip4/203.0.113.10/tcp/7777/p2p/${RELAY}/p2p-circuit`

describe('loopback addresses', () => {
  it('recognises loopback hosts, and only those', () => {
    for (const a of ['/ip4/127.0.0.1/tcp/4001', '/ip4/127.8.9.10/tcp/1', '/ip6/::1/tcp/4001', '/ip6/0:0:0:0:0:0:0:1/tcp/1', '/ip6/::ffff:127.0.0.1/tcp/1', '/dns4/localhost/tcp/80', '/dns/app.localhost/tcp/80']) {
      assert.equal(isLoopbackAddr(a), true, a)
    }
    assert.equal(isLoopbackAddr(multiaddr('/ip4/127.0.0.1/tcp/4001')), true)
    for (const a of ['/ip4/10.0.0.2/tcp/4001', '/ip4/128.0.0.1/tcp/1', '/ip4/203.0.113.7/tcp/1', '/ip6/::/tcp/1', '/ip6/fe80::1/tcp/1', '/ip6/2001:db8::1/tcp/1', '/dns4/localhost.example.net/tcp/1', '/webrtc', `/p2p/${PEER}`]) {
      assert.equal(isLoopbackAddr(a), false, a)
    }
  })

  it('announce: loopback is left out when the node has another direct address', () => {
    const addrs = ['/ip4/127.0.0.1/tcp/4001', '/ip4/10.0.1.2/tcp/4001', '/ip6/::1/tcp/4001', circuit, `/ip4/127.0.0.1/tcp/7777/p2p/${RELAY}/p2p-circuit`]
    assert.deepEqual(announceableAddrs(addrs), ['/ip4/10.0.1.2/tcp/4001', circuit, `/ip4/127.0.0.1/tcp/7777/p2p/${RELAY}/p2p-circuit`])
    // multiaddr objects in, the same objects out
    const mas = addrs.map(a => multiaddr(a))
    assert.deepEqual(announceableAddrs(mas).map(String), announceableAddrs(addrs))
    assert.equal(announceableAddrs(mas)[0], mas[1])
  })

  it('announce: a node that listens on loopback only keeps its loopback addresses (same-host peers need them)', () => {
    const addrs = ['/ip4/127.0.0.1/tcp/4001', `/ip4/127.0.0.1/tcp/7777/p2p/${RELAY}/p2p-circuit`]
    assert.deepEqual(announceableAddrs(addrs), addrs)
    assert.deepEqual(announceableAddrs([]), [])
  })

  it('dial/resolve: a remote\'s loopback addresses are dropped unless both ends are on one host', () => {
    const mixed = ['/ip4/127.0.0.1/tcp/42701', '/ip4/10.0.2.5/tcp/42701', circuit]
    // an older peer announcing its loopback next to a LAN address: never same-host
    for (const sameHostRelay of [false, true]) {
      assert.deepEqual(dialableRemoteAddrs(mixed, { sameHostRelay }), { addrs: ['/ip4/10.0.2.5/tcp/42701', circuit], dropped: ['/ip4/127.0.0.1/tcp/42701'] })
    }
    const onlyLoopback = ['/ip4/127.0.0.1/tcp/42701', '/ip6/::1/tcp/42701']
    // learnt through a relay on another host: the peer is not on ours
    assert.deepEqual(dialableRemoteAddrs(onlyLoopback, { sameHostRelay: false }), { addrs: [], dropped: onlyLoopback })
    // loopback only, and our relay is on this host: both ends are here
    assert.deepEqual(dialableRemoteAddrs(onlyLoopback, { sameHostRelay: true }), { addrs: onlyLoopback, dropped: [] })
    assert.deepEqual(dialableRemoteAddrs([...onlyLoopback, circuit], { sameHostRelay: true }).dropped, [])
    // nothing to drop
    assert.deepEqual(dialableRemoteAddrs(['/ip4/10.0.2.5/tcp/1'], { sameHostRelay: false }), { addrs: ['/ip4/10.0.2.5/tcp/1'], dropped: [] })
  })
})
