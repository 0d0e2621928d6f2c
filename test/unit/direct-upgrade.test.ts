import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { directCandidates } from '../../src/index.js'

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

describe('direct upgrade: which advertised addresses are worth a direct dial', () => {
  it('keeps announced, LAN and DNS TCP addresses, adds the peer ID, drops circuits, loopback, link-local and duplicates', () => {
    const got = directCandidates([
      '/ip4/198.51.100.2/tcp/4001',
      '/ip4/192.168.1.10/tcp/4001',
      `/ip4/192.168.1.10/tcp/4001/p2p/${PEER}`,
      '/dns4/home.example.net/tcp/4001',
      '/ip4/127.0.0.1/tcp/4001',
      '/ip4/169.254.3.4/tcp/4001',
      '/ip6/::1/tcp/4001',
      '/ip6/fe80::1/tcp/4001',
      '/ip4/203.0.113.10/tcp/7777/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK/p2p-circuit',
      '/ip4/198.51.100.2/udp/4001/quic-v1',
      '/ip4/198.51.100.2/tcp/4002/ws'
    ].map(a => multiaddr(a)), PEER).map(String)
    assert.deepEqual(got, [
      `/ip4/198.51.100.2/tcp/4001/p2p/${PEER}`,
      `/ip4/192.168.1.10/tcp/4001/p2p/${PEER}`,
      `/dns4/home.example.net/tcp/4001/p2p/${PEER}`,
      `/ip4/198.51.100.2/tcp/4002/ws/p2p/${PEER}`
    ])
  })
})
