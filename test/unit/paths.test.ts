import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { configSchema, describeLimits, describePath, isRelayedAddr, isUdpDirectAddr, loadYamlFile, normalizeStunUrl, pathOf, stunServersFromRelays } from '../../src/index.js'
import type { Connection } from '@libp2p/interface'

const R = '12D3KooWKXeTpyKNhG8jqNSJdPkajruf51En4vbbb6z6W1GHJXr5'
const P = '12D3KooWHY7CTS8gSU2AGYoEJgSp5Vp2LWXvuHCS8ZxPTMSaf2qV'
const conn = (addr: string): Connection => ({ remoteAddr: multiaddr(addr) }) as unknown as Connection

describe('path classes', () => {
  it('TCP, relayed and WebRTC connections (both sides) get their class', () => {
    assert.deepEqual(pathOf(conn(`/ip4/198.51.100.2/tcp/4001/p2p/${P}`)), { path: 'direct', class: 'direct-tcp', remoteAddr: `/ip4/198.51.100.2/tcp/4001/p2p/${P}` })
    const relayed = pathOf(conn(`/ip4/203.0.113.10/tcp/7777/p2p/${R}/p2p-circuit/p2p/${P}`))
    assert.equal(relayed.class, 'relayed')
    assert.equal(relayed.path, 'relayed')
    assert.equal(relayed.relay, R)
    assert.equal(describePath(relayed), `relayed via ${R}`)
    // the dialling side's WebRTC address names the signalling relay, but the data is direct
    const dialled = pathOf(conn(`/ip4/203.0.113.10/tcp/7777/p2p/${R}/p2p-circuit/webrtc/p2p/${P}`))
    assert.equal(dialled.class, 'direct-udp')
    assert.equal(dialled.path, 'direct')
    assert.equal(dialled.relay, R)
    assert.equal(describePath(dialled), 'direct-udp')
    const accepted = pathOf(conn(`/webrtc/p2p/${P}`))
    assert.equal(accepted.class, 'direct-udp')
    assert.equal(accepted.path, 'direct')
  })

  it('a relayed connection the relay limits carries the limits, and a warning names them', () => {
    const limited = pathOf({ remoteAddr: multiaddr(`/ip4/203.0.113.10/tcp/7777/p2p/${R}/p2p-circuit/p2p/${P}`), limits: { bytes: 130452n, seconds: 118 } } as unknown as Connection)
    assert.deepEqual(limited.limits, { bytes: 130452, seconds: 118 })
    assert.equal(JSON.parse(JSON.stringify(limited)).limits.bytes, 130452, 'JSON-safe (no bigint)')
    assert.equal(describePath(limited), `relayed via ${R}`)
    assert.match(describeLimits(limited) ?? '', new RegExp(`^relay ${R} limits this connection \\(left: 127 KiB, 118 s\\): its tunnels are reset`))
    assert.equal(describeLimits(pathOf(conn(`/ip4/203.0.113.10/tcp/7777/p2p/${R}/p2p-circuit/p2p/${P}`))), undefined, 'unlimited: no warning')
    assert.equal(pathOf(conn(`/ip4/203.0.113.10/tcp/7777/p2p/${R}/p2p-circuit/p2p/${P}`)).limits, undefined)
  })

  it('relayed vs direct-UDP address predicates', () => {
    assert.equal(isRelayedAddr(`/ip4/1.2.3.4/tcp/1/p2p/${R}/p2p-circuit/p2p/${P}`), true)
    assert.equal(isRelayedAddr(`/ip4/1.2.3.4/tcp/1/p2p/${R}/p2p-circuit/webrtc/p2p/${P}`), false)
    assert.equal(isUdpDirectAddr(`/ip4/1.2.3.4/tcp/1/p2p/${R}/p2p-circuit/webrtc/p2p/${P}`), true)
    assert.equal(isUdpDirectAddr('/webrtc'), true)
    assert.equal(isUdpDirectAddr(`/ip4/1.2.3.4/udp/1/webrtc-direct/p2p/${P}`), false)
    assert.equal(isUdpDirectAddr(`/ip4/1.2.3.4/tcp/1/p2p/${P}`), false)
  })
})

describe('STUN server list', () => {
  it('derives stun:<relay-host>:3478 from relay multiaddrs, skipping loopback, deduplicated', () => {
    assert.deepEqual(stunServersFromRelays([
      `/ip4/203.0.113.10/tcp/7777/p2p/${R}`,
      `/ip4/203.0.113.10/tcp/443/ws/p2p/${R}`,
      `/dns4/relay.example.net/tcp/7777/p2p/${R}`,
      `/ip6/2001:db8::7/tcp/7777/p2p/${R}`,
      `/ip4/127.0.0.1/tcp/7777/p2p/${R}`,
      `/ip6/::1/tcp/7777/p2p/${R}`,
      'not a multiaddr'
    ]), ['stun:203.0.113.10:3478', 'stun:relay.example.net:3478', 'stun:[2001:db8::7]:3478'])
    assert.deepEqual(stunServersFromRelays([]), [])
  })

  it('normalizes configured servers', () => {
    assert.equal(normalizeStunUrl('203.0.113.7'), 'stun:203.0.113.7:3478')
    assert.equal(normalizeStunUrl('203.0.113.7:5349'), 'stun:203.0.113.7:5349')
    assert.equal(normalizeStunUrl('stun:stun.example.net'), 'stun:stun.example.net:3478')
    assert.equal(normalizeStunUrl('stun:[2001:db8::1]:3478'), 'stun:[2001:db8::1]:3478')
  })
})

describe('path config', () => {
  const load = (text: string): any => loadYamlFile('/etc/peerup/config.yaml', configSchema, text)

  it('defaults: prefer direct, UDP on, STUN from the relays, relay STUN on 3478 with no fixed host (one socket per address)', () => {
    const c = load('role: home\n')
    assert.deepEqual(c.paths, { prefer: 'direct', udp: true })
    assert.equal(c.network.stun, undefined)
    const r = load('role: relay\nrelay: {}\n')
    assert.deepEqual(r.relay.stun, { enabled: true, port: 3478, rate_per_second: 20, burst: 40 })
    assert.equal(load('role: relay\n').relay, undefined, 'no relay: section: the relay server applies the same defaults')
  })

  it('accepts overrides and names the key of a bad value', () => {
    const c = load('role: client\npaths:\n  prefer: relay\nnetwork:\n  stun: [stun:192.0.2.1:3478, 198.51.100.9]\n')
    assert.equal(c.paths.prefer, 'relay')
    assert.deepEqual(c.network.stun, ['stun:192.0.2.1:3478', '198.51.100.9'])
    for (const [text, key] of [
      ['role: home\npaths:\n  prefer: fastest\n', 'paths.prefer'],
      ['role: home\nnetwork:\n  stun: ["stun://x y"]\n', 'network.stun'],
      ['role: relay\nrelay:\n  stun:\n    port: 70000\n', 'relay.stun.port']
    ]) {
      assert.throws(() => load(text), (err: any) => err.name === 'ConfigError' && err.message.includes(key), `${key} named in the error`)
    }
  })
})
