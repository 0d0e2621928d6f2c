import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { configSchema, createVirtualIpTable, SOCKS_REPLY, startGateways, type LoadedConfig } from '../../src/index.js'
import { decode, dnsQuery, peerIds, socksConnect, stubNode, udpAsk } from '../fixtures/gateway.js'

function loaded (dir: string, raw: Record<string, unknown>): LoadedConfig {
  return { config: configSchema.parse(raw), file: join(dir, 'config.yaml'), dir, path: (p: string) => join(dir, p) }
}

describe('gateway config and startGateways()', () => {
  const root = mkdtempSync(join(tmpdir(), 'peerup-unit-gw-'))
  let me: string
  let home: string
  before(async () => { [me, home] = await peerIds(2) })
  after(() => { rmSync(root, { recursive: true, force: true }) })

  it('the gateway: section: empty subsections mean the defaults; unknown keys, half credentials and bad values are errors', () => {
    const c = configSchema.parse({ role: 'client', gateway: { socks: null, dns: {} } })
    assert.deepEqual(c.gateway, {
      socks: { listen: '127.0.0.1:1080', passthrough: false, max_connections: 1024, handshake_timeout_seconds: 10 },
      dns: { listen: '127.0.0.1:5353', ttl: 60, suffixes: ['p2p'], bare_names: false, upstream: 'refuse' }
    })
    assert.equal(configSchema.parse({ role: 'client' }).gateway, undefined)
    assert.deepEqual(configSchema.parse({ role: 'home', gateway: { tun: null } }).gateway?.tun, { interface: 'peer0', mtu: 16384 })
    const bad: Array<[unknown, string]> = [
      [{ socks: { foo: 1 } }, 'gateway.socks'],
      [{ socks: { username: 'a' } }, 'gateway.socks'],
      [{ socks: { username: 'a', password: 'x'.repeat(256) } }, 'gateway.socks.password'],
      [{ socks: { max_connections: 0 } }, 'gateway.socks.max_connections'],
      [{ dns: { ttl: -1 } }, 'gateway.dns.ttl'],
      [{ dns: { suffixes: ['bad_zone'] } }, 'gateway.dns.suffixes.0'],
      [{ dns: { upstream: 'google' } }, 'gateway.dns.upstream'],
      [{ dns: { listen: 'localhost' } }, 'gateway.dns.listen'],
      [{ tun: { foo: 1 } }, 'gateway.tun'],
      [{ tun: { mtu: 100 } }, 'gateway.tun.mtu'],
      [{ tun: { mtu: 70000 } }, 'gateway.tun.mtu'],
      [{ tun: { interface: 'a-name-over-15-chars' } }, 'gateway.tun.interface'],
      [{ tun: { interface: 'bad/name' } }, 'gateway.tun.interface'],
      [{ tun: { allow: '' } }, 'gateway.tun.allow']
    ]
    for (const [gateway, path] of bad) {
      const r = configSchema.safeParse({ role: 'client', gateway })
      assert.equal(r.success, false, JSON.stringify(gateway))
      assert.ok(r.error!.issues.some(i => i.path.join('.') === path), `${JSON.stringify(gateway)}: ${JSON.stringify(r.error!.issues)}`)
    }
  })

  it('starts both gateways from the config, with the node\'s own name answering with its own virtual IP', async () => {
    const dir = join(root, 'both')
    const cfg = loaded(dir, {
      role: 'client',
      network: { name: 'grewal', host: 'laptop' },
      gateway: { socks: { listen: '127.0.0.1:0', handshake_timeout_seconds: 2 }, dns: { listen: '127.0.0.1:0', ttl: 5 } }
    })
    const node = { peerId: me, ...stubNode({ 'home.grewal': home }) }
    const g = await startGateways(node, cfg)
    try {
      assert.ok(g.socks != null && g.dns != null)
      assert.equal(g.vip, g.vips.byPeer(me)?.ip)
      assert.deepEqual(g.vips.byPeer(me)?.names, ['laptop.grewal'])
      assert.ok(existsSync(join(dir, 'vip-table.json')))
      const own = decode((await udpAsk(g.dns.address.port, dnsQuery('laptop.grewal.p2p', 1)))!)
      assert.equal((own.answers[0] as any).address, g.vip)
      assert.equal(own.answers[0].ttl, 5)
      const r = await socksConnect(g.socks.address.port, 'home.grewal.p2p', 2)
      r.socket.destroy()
      assert.equal(r.rep, SOCKS_REPLY.CONNECTION_REFUSED)
      assert.deepEqual(node.calls, [['home.grewal', '2']])
    } finally {
      await g.stop()
    }
    // the persisted table gives the same address to a fresh table
    assert.equal(createVirtualIpTable({ file: join(dir, 'vip-table.json') }).byPeer(me)?.ip, g.vip)
  })

  it('options override the config: a listen address turns one on, false turns one off', async () => {
    const dir = join(root, 'override')
    const cfg = loaded(dir, { role: 'client', gateway: { socks: { listen: '127.0.0.1:1' } } })
    const g = await startGateways({ peerId: me, ...stubNode({}) }, cfg, { socks: false, dns: '127.0.0.1:0' })
    try {
      assert.equal(g.socks, undefined)
      assert.ok(g.dns != null && g.dns.address.port > 0)
    } finally {
      await g.stop()
    }
  })

  it('with no gateway configured or asked for, starts nothing and writes no table', async () => {
    const dir = join(root, 'none')
    const g = await startGateways({ peerId: me, ...stubNode({}) }, loaded(dir, { role: 'home' }))
    assert.equal(g.socks, undefined)
    assert.equal(g.dns, undefined)
    assert.equal(g.vip, createVirtualIpTable().preferred(me))
    assert.equal(existsSync(join(dir, 'vip-table.json')), false)
    await g.stop()
  })

  it('a gateway that cannot listen fails start-up with a clear error', async () => {
    const dir = join(root, 'clash')
    const first = await startGateways({ peerId: me, ...stubNode({}) }, loaded(dir, { role: 'client' }), { dns: '127.0.0.1:0', socks: false })
    try {
      const port = first.dns!.address.port
      await assert.rejects(startGateways({ peerId: me, ...stubNode({}) }, loaded(dir, { role: 'client' }), { socks: '127.0.0.1:0', dns: `127.0.0.1:${port}` }), /cannot listen/)
    } finally {
      await first.stop()
    }
  })
})
