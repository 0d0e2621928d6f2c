/**
 * The human `peerup status` from a status object: address groups in the
 * order a user needs them, path classes instead of PATH + VIA, names and
 * comments.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { addressGroup, formatBytes, renderStatus } from '../../cli/status-view.js'
import type { DaemonStatus } from '../../src/index.js'

const ME = '12D3KooWMe'
const RELAY = '12D3KooWRelay'
const HOME = '12D3KooWHome'
const FRIEND = '12D3KooWFriend'

function status (): DaemonStatus {
  return {
    peerId: ME,
    role: 'client',
    network: 'grewal',
    host: 'laptop',
    pid: 1,
    uptimeSeconds: 5,
    addresses: [
      `/ip4/127.0.0.1/tcp/4001/p2p/${ME}`,
      `/ip4/192.168.1.20/tcp/4001/p2p/${ME}`,
      `/ip6/::1/tcp/4001/p2p/${ME}`,
      `/ip4/203.0.113.7/tcp/7777/p2p/${RELAY}/p2p-circuit/webrtc/p2p/${ME}`,
      `/ip4/198.51.100.9/tcp/4001/p2p/${ME}`,
      `/ip4/203.0.113.7/tcp/7777/p2p/${RELAY}/p2p-circuit/p2p/${ME}`
    ],
    relays: [{ addr: `/ip4/203.0.113.7/tcp/7777/p2p/${RELAY}`, peerId: RELAY, connected: true, reserved: true, lastError: null, attempts: 1 }],
    peers: [
      { peerId: FRIEND, relay: false, path: 'relayed', class: 'relayed', via: RELAY, remoteAddr: `/ip4/203.0.113.7/tcp/7777/p2p/${RELAY}/p2p-circuit/p2p/${FRIEND}`, connections: 1, streams: 0, name: null, comment: 'friend' },
      { peerId: RELAY, relay: true, path: 'direct', class: 'direct-tcp', via: null, remoteAddr: `/ip4/203.0.113.7/tcp/7777/p2p/${RELAY}`, connections: 1, streams: 1, name: null, comment: null },
      { peerId: HOME, relay: false, path: 'direct', class: 'direct-udp', via: RELAY, remoteAddr: `/ip4/203.0.113.7/tcp/7777/p2p/${RELAY}/p2p-circuit/webrtc/p2p/${HOME}`, connections: 2, streams: 1, name: 'home.grewal', comment: 'home' }
    ],
    services: [],
    tunnels: [{ direction: 'outbound', service: '80', peerId: HOME, target: 'home.grewal', path: 'direct', class: 'direct-udp', origin: 'socks', startedAt: '2026-01-01T00:00:00.000Z', bytesIn: 1048576, bytesOut: 2048 }],
    bytes: { in: 3 * 1048576, out: 100 },
    gateways: { socks: '127.0.0.1:1080', dns: null, tun: null, vip: '10.64.0.2' },
    tun: null,
    controlSocket: '/home/me/.config/peerup/peerup.sock',
    metricsListen: null,
    rssBytes: 80 * 1048576,
    memory: { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }
  }
}

describe('peerup status, human form', () => {
  it('classifies addresses: relay, public, LAN, WebRTC, loopback', () => {
    assert.equal(addressGroup(`/ip4/203.0.113.7/tcp/7777/p2p/${RELAY}/p2p-circuit/p2p/${ME}`), 'relay')
    assert.equal(addressGroup(`/ip4/203.0.113.7/tcp/7777/p2p/${RELAY}/p2p-circuit/webrtc/p2p/${ME}`), 'webrtc')
    assert.equal(addressGroup('/ip4/198.51.100.9/tcp/4001'), 'public')
    assert.equal(addressGroup('/dns4/home.example.org/tcp/4001'), 'public')
    for (const lan of ['/ip4/10.1.2.3/tcp/1', '/ip4/172.20.0.1/tcp/1', '/ip4/192.168.0.5/tcp/1/ws', '/ip4/100.72.0.1/tcp/1', '/ip6/fd00::1/tcp/1', '/ip6/fe80::1/tcp/1']) assert.equal(addressGroup(lan), 'lan', lan)
    assert.equal(addressGroup('/ip4/172.32.0.1/tcp/1'), 'public')
    for (const lo of ['/ip4/127.0.0.1/tcp/1', '/ip6/::1/tcp/1', '/dns4/localhost/tcp/1']) assert.equal(addressGroup(lo), 'loopback', lo)
  })

  it('lists the relay address first, then public, then LAN; counts WebRTC and loopback', () => {
    const lines = renderStatus(status())
    const i = lines.findIndex(l => l.startsWith('addresses ('))
    assert.match(lines[i], /give others the relay address/)
    assert.match(lines[i + 1], /^ {2}relay\s+\/ip4\/203\.0\.113\.7\/tcp\/7777\/p2p\/12D3KooWRelay\/p2p-circuit\/p2p\/12D3KooWMe$/)
    assert.match(lines[i + 2], /^ {2}public\s+\/ip4\/198\.51\.100\.9\//)
    assert.match(lines[i + 3], /^ {2}lan\s+\/ip4\/192\.168\.1\.20\//)
    assert.equal(lines[i + 4], '  + 1 direct-UDP (WebRTC) address, signalled through the relay')
    assert.equal(lines[i + 5], '  + 2 loopback addresses (this machine only)')
  })

  it('shows peers by name with the path class; VIA only as "relayed via <relay host:port>"', () => {
    const text = renderStatus(status()).join('\n')
    assert.doesNotMatch(text, /\bVIA\b/)
    assert.match(text, /^home\.grewal\s+12D3KooWHome\s+direct-udp\s+1\s+-\s+home$/m)
    assert.match(text, /^-\s+12D3KooWFriend\s+relayed via 203\.0\.113\.7:7777\s+0\s+-\s+friend$/m)
    assert.match(text, /^relay 203\.0\.113\.7:7777\s+12D3KooWRelay\s+direct-tcp\s+1\s+\/ip4\/203\.0\.113\.7\/tcp\/7777$/m)
    // named peers before unnamed ones, relays last
    assert.ok(text.indexOf('home.grewal  ') < text.indexOf('12D3KooWFriend') && text.indexOf('12D3KooWFriend') < text.indexOf('relay 203'))
    assert.match(text, /^outbound\s+socks\s+80\s+home\.grewal\s+direct-udp\s+1\.0 MiB\s+2\.0 KiB\s+2026-/m)
    assert.match(text, /^bytes in 3\.0 MiB {2}out 100 B {2}\(tunnels: 1 open\)$/m)
  })

  it('formats bytes', () => {
    assert.deepEqual([0, 1023, 1024, 1536, 1048576, 5 * 1024 ** 3].map(formatBytes), ['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '1.0 MiB', '5.0 GiB'])
  })
})
