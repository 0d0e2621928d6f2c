import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { createSocksGateway, createVirtualIpTable, SOCKS_REPLY, type SocksGateway, type VirtualIpTable } from '../../src/index.js'
import { echo, peerIds, rawExchange, socksConnect, socksRequest, stubNode, type StubNode } from '../fixtures/gateway.js'
import { freePort } from '../fixtures/mesh.js'

describe('SOCKS5 gateway (stub mesh)', () => {
  let home: string
  let laptop: string
  let vips: VirtualIpTable
  let node: StubNode
  let plain: SocksGateway
  let open: SocksGateway
  let authed: SocksGateway
  let echoServer: { port: number, close: () => Promise<void> }
  let closedPort: number
  const dialed: Array<{ host: string, port: number }> = []

  before(async () => {
    [home, laptop] = await peerIds(2)
    vips = createVirtualIpTable()
    node = stubNode({ 'home.grewal': home, 'laptop.grewal': laptop })
    echoServer = await echo()
    closedPort = await freePort()
    // passthrough never leaves loopback: every destination maps to a local port
    const loopbackConnect = (o: { host: string, port: number }): any => {
      dialed.push({ host: o.host, port: o.port })
      return connect({ host: '127.0.0.1', port: o.port === 80 ? echoServer.port : closedPort, allowHalfOpen: true })
    }
    plain = createSocksGateway({ listen: '127.0.0.1:0', handshakeTimeout: 1500 }, { node, vips })
    open = createSocksGateway({ listen: '127.0.0.1:0', handshakeTimeout: 1500, passthrough: true }, { node, vips, connect: loopbackConnect })
    authed = createSocksGateway({ listen: '127.0.0.1:0', handshakeTimeout: 1500, passthrough: true, username: 'alice', password: 'sesame' }, { node, vips, connect: loopbackConnect })
    for (const g of [plain, open, authed]) await g.start()
  })
  after(async () => {
    for (const g of [plain, open, authed]) await g?.stop()
    await echoServer?.close()
  })

  it('maps mesh errors to RFC 1928 reply codes', async () => {
    const cases: Array<[string, number, number]> = [
      ['home.grewal', 1, SOCKS_REPLY.NOT_ALLOWED],
      ['home.grewal', 2, SOCKS_REPLY.CONNECTION_REFUSED],
      ['home.grewal', 3, SOCKS_REPLY.HOST_UNREACHABLE],
      ['home.grewal', 4, SOCKS_REPLY.GENERAL_FAILURE],
      ['nope.grewal', 80, SOCKS_REPLY.HOST_UNREACHABLE],
      ['example.com', 80, SOCKS_REPLY.HOST_UNREACHABLE],
      ['www.example.com', 443, SOCKS_REPLY.HOST_UNREACHABLE],
      ['93.184.216.34', 80, SOCKS_REPLY.HOST_UNREACHABLE],
      ['10.64.7.7', 22, SOCKS_REPLY.HOST_UNREACHABLE]
    ]
    for (const [host, port, rep] of cases) {
      const r = await socksConnect(plain.address.port, host, port)
      r.socket.destroy()
      assert.equal(r.rep, rep, `${host}:${port}`)
    }
  })

  it('passes names with and without .p2p, and virtual IPs, to the mesh with the port as the service', async () => {
    node.calls.length = 0
    const vip = vips.assign(home, 'home.grewal')
    for (const [host, port] of [['laptop.grewal', 22], ['Laptop.Grewal.P2P.', 2], [vip, 3], ['home', 80]] as const) {
      const r = await socksConnect(plain.address.port, host, port)
      r.socket.destroy()
    }
    assert.deepEqual(node.calls, [['laptop.grewal', '22'], ['laptop.grewal', '2'], ['home.grewal', '3']])
    // "home" alone is not in the stub's names: outside the mesh, and no passthrough
  })

  it('never passes a .p2p name or a 10.64/16 address outside the mesh, even with passthrough', async () => {
    dialed.length = 0
    for (const [host, port] of [['nope.grewal.p2p', 80], ['10.64.200.200', 80]] as const) {
      const r = await socksConnect(open.address.port, host, port)
      r.socket.destroy()
      assert.equal(r.rep, SOCKS_REPLY.HOST_UNREACHABLE, host)
    }
    assert.deepEqual(dialed, [])
  })

  it('passthrough: plain TCP to destinations outside the mesh, byte-exact both ways, early data kept', async () => {
    const data = Buffer.alloc(256 * 1024, 7)
    const r = await rawExchange(open.address.port, [Buffer.concat([Buffer.from([5, 1, 0]), socksRequest('example.com', 80), Buffer.from('early:')]), data], { end: true, deadlineMs: 5000 })
    assert.equal(r.timedOut, false)
    assert.deepEqual([...r.received.subarray(0, 6)], [5, 0, 5, SOCKS_REPLY.SUCCEEDED, 0, 1], 'method, then success with an IPv4 bound address')
    assert.ok(r.received.subarray(12).equals(Buffer.concat([Buffer.from('early:'), data])))
    assert.deepEqual(dialed.at(-1), { host: 'example.com', port: 80 })
    const refused = await socksConnect(open.address.port, 'example.com', 81)
    refused.socket.destroy()
    assert.equal(refused.rep, SOCKS_REPLY.CONNECTION_REFUSED)
  })

  it('answers BIND and UDP ASSOCIATE with 0x07 and an unknown address type with 0x08', async () => {
    for (const cmd of [2, 3, 9]) {
      const r = await rawExchange(plain.address.port, [Buffer.from([5, 1, 0]), socksRequest('home.grewal', 22, cmd)], { end: false, deadlineMs: 5000 })
      assert.equal(r.timedOut, false)
      assert.deepEqual([...r.received.subarray(0, 4)], [5, 0, 5, SOCKS_REPLY.COMMAND_NOT_SUPPORTED])
    }
    const bad = await rawExchange(plain.address.port, [Buffer.from([5, 1, 0, 5, 1, 0, 7, 1, 2, 3, 4])], { end: false, deadlineMs: 5000 })
    assert.deepEqual([...bad.received], [5, 0, 5, SOCKS_REPLY.ADDRESS_TYPE_NOT_SUPPORTED, 0, 1, 0, 0, 0, 0, 0, 0])
  })

  it('RFC 1929: the right password passes, a wrong one and a missing method are refused', async () => {
    const ok = await socksConnect(authed.address.port, 'example.com', 80, { auth: { user: 'alice', pass: 'sesame' } })
    ok.socket.destroy()
    assert.equal(ok.rep, SOCKS_REPLY.SUCCEEDED)
    const wrong = await socksConnect(authed.address.port, 'example.com', 80, { auth: { user: 'alice', pass: 'sesame!' } })
    assert.equal(wrong.rep, 0x101, 'auth failure status 1')
    const noAuth = await socksConnect(authed.address.port, 'example.com', 80)
    assert.equal(noAuth.rep, 0xff, 'no acceptable method')
  })

  it('times out a tunnel that does not open with 0x06, and an idle client by closing, both within the handshake timeout', async () => {
    const hang = await rawExchange(plain.address.port, [Buffer.from([5, 1, 0]), socksRequest('home.grewal', 5)], { end: false, deadlineMs: 5000 })
    assert.equal(hang.timedOut, false)
    assert.deepEqual([...hang.received.subarray(2, 4)], [5, SOCKS_REPLY.TTL_EXPIRED])
    assert.ok(hang.closedAfter >= 1000 && hang.closedAfter < 3500, `closed after ${hang.closedAfter} ms`)
    const idle = await rawExchange(plain.address.port, [Buffer.from([5])], { end: false, deadlineMs: 5000 })
    assert.equal(idle.timedOut, false)
    assert.equal(idle.received.length, 0)
    assert.ok(idle.closedAfter >= 1000 && idle.closedAfter < 3500, `closed after ${idle.closedAfter} ms`)
  })

  it('closes at once on a non-SOCKS5 greeting, and on EOF mid-handshake', async () => {
    const v4 = await rawExchange(plain.address.port, [Buffer.from([4, 1, 0, 80, 1, 2, 3, 4, 0])], { end: false, deadlineMs: 5000 })
    assert.equal(v4.received.length, 0)
    assert.ok(v4.closedAfter < 2000, `closed after ${v4.closedAfter} ms`)
    const eof = await rawExchange(plain.address.port, [Buffer.from([5, 1, 0, 5, 1])], { end: true, deadlineMs: 5000 })
    assert.deepEqual([...eof.received], [5, 0])
    assert.ok(eof.closedAfter < 2000, `closed after ${eof.closedAfter} ms`)
  })

  it('refuses to listen off loopback without a password', async () => {
    const g = createSocksGateway({ listen: '0.0.0.0:0' }, { node, vips })
    await assert.rejects(g.start(), { name: 'ConfigError' })
    assert.throws(() => createSocksGateway({ username: 'x' }, { node, vips }), { name: 'ConfigError' })
  })

  it('slowloris: idle connections past the cap evict the oldest handshakes; a real client still gets through promptly', async () => {
    const g = createSocksGateway({ listen: '127.0.0.1:0', handshakeTimeout: 30_000, maxConnections: 16 }, { node, vips })
    await g.start()
    const idle = []
    try {
      for (let i = 0; i < 100; i++) {
        idle.push(connect({ host: '127.0.0.1', port: g.address.port }))
        idle.at(-1)!.on('error', () => {})
      }
      await Promise.all(idle.map(async s => await new Promise(resolve => { s.once('connect', resolve); s.once('close', resolve); setTimeout(resolve, 5000).unref() })))
      const r = await socksConnect(g.address.port, 'home.grewal', 2, { timeoutMs: 2000 })
      r.socket.destroy()
      assert.equal(r.rep, SOCKS_REPLY.CONNECTION_REFUSED)
      assert.ok(r.ms < 2000, `took ${r.ms} ms`)
      const c = g.connections()
      assert.ok(c.handshaking + c.established <= 16, JSON.stringify(c))
    } finally {
      for (const s of idle) s.destroy()
      await g.stop()
    }
  })
})
