/**
 * Property/fuzz tests of the SOCKS5 gateway: real servers on 127.0.0.1 with
 * a stub mesh node and a passthrough that only ever reaches a local echo
 * server (or a closed local port). Nothing may crash the gateway, every
 * byte it sends must follow RFC 1928/1929, well-formed requests must get
 * the right reply code, and every connection that did not become a tunnel
 * must be closed within the handshake timeout.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import fc from 'fast-check'
import { createSocksGateway, createVirtualIpTable, SOCKS_REPLY, type SocksGateway, type VirtualIpTable } from '../../src/index.js'
import { echo, peerIds, rawExchange, stubNode } from '../fixtures/gateway.js'
import { freePort } from '../fixtures/mesh.js'

/** Connections in the main property, run in concurrent batches. */
const CASES = 20_000
const BATCH = 10
/** Idle connections (no EOF from the client), run in larger batches. */
const IDLE_CASES = 600
const IDLE_BATCH = 50
const TIMEOUT_MS = 300
/** Scheduling slack on a loaded CI machine; a connection the server forgot would hit the 3 s client deadline instead. */
const SLACK_MS = 1500

const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff]

interface Req {
  ver: number
  cmd: number
  rsv: number
  atyp: number
  addr: number[]
  port: number
  /** What the address means, for the oracle. */
  host?: string
}

/** What a well-formed request must get from the no-auth, passthrough server. */
function expectedReply (r: Req, homeVip: string): number | 'closed' {
  if (r.ver !== 5) return 'closed'
  if (![1, 3, 4].includes(r.atyp)) return SOCKS_REPLY.ADDRESS_TYPE_NOT_SUPPORTED
  if (r.cmd !== 1) return SOCKS_REPLY.COMMAND_NOT_SUPPORTED
  const mesh = (): number => ({ 1: SOCKS_REPLY.NOT_ALLOWED, 2: SOCKS_REPLY.CONNECTION_REFUSED, 3: SOCKS_REPLY.HOST_UNREACHABLE, 4: SOCKS_REPLY.GENERAL_FAILURE } as Record<number, number>)[r.port] ?? SOCKS_REPLY.CONNECTION_REFUSED
  const passthrough = (): number => r.port === 80 ? SOCKS_REPLY.SUCCEEDED : SOCKS_REPLY.CONNECTION_REFUSED
  const host = r.host!
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) {
    if (!host.startsWith('10.64.')) return passthrough()
    return host === homeVip ? mesh() : SOCKS_REPLY.HOST_UNREACHABLE
  }
  if (r.atyp === 4) return passthrough()
  let name = host.toLowerCase().replace(/\.$/, '')
  const zoned = name.endsWith('.p2p')
  if (zoned) name = name.slice(0, -4)
  if (name === 'home.grewal' || name === 'laptop.grewal') return mesh()
  return zoned ? SOCKS_REPLY.HOST_UNREACHABLE : passthrough()
}

const requestArb = (homeVip: string): fc.Arbitrary<Req> => fc.record({
  ver: fc.oneof({ weight: 12, arbitrary: fc.constant(5) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  cmd: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom(2, 3) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  rsv: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  dest: fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom('home.grewal', 'laptop.grewal.p2p', 'HOME.GREWAL.P2P.', 'nope.grewal', 'nope.grewal.p2p', 'example.com', 'www.example.com', '', 'home', homeVip, '10.64.250.250', '192.0.2.1').map(h => ({ atyp: 3, host: h })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 255 }).map(b => ({ atyp: 3, host: Buffer.from(b).toString('latin1') })) },
    { weight: 2, arbitrary: fc.constantFrom(homeVip, '10.64.250.250', '127.0.0.1', '192.0.2.7').map(h => ({ atyp: 1, host: h })) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map(b => ({ atyp: 4, host: Buffer.from(b).toString('hex') })) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }).filter(a => ![1, 3, 4].includes(a)).map(a => ({ atyp: a, host: '' })) }
  ),
  port: fc.oneof(fc.constantFrom(1, 2, 3, 4, 22, 80, 81, 443, 8080), fc.integer({ min: 0, max: 0xffff }).filter(p => p !== 5))
}).map(r => {
  const { atyp, host } = r.dest
  let addr: number[]
  if (atyp === 1) addr = host.split('.').map(Number)
  else if (atyp === 4) addr = [...Buffer.from(host, 'hex')]
  else if (atyp === 3) addr = [Buffer.from(host, 'latin1').length, ...Buffer.from(host, 'latin1')]
  else addr = [1, 2, 3, 4]
  return { ver: r.ver, cmd: r.cmd, rsv: r.rsv, atyp, addr, port: r.port, host }
})

/** A client session: greeting, request, early data; possibly mutated, or pure noise. */
const sessionArb = (homeVip: string): fc.Arbitrary<{ bytes: Buffer, cuts: number[], oracle?: number | 'closed' | 'no-method', noise: boolean }> => fc.record({
  methods: fc.oneof({ weight: 8, arbitrary: fc.constant([0]) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8 }).map(m => [...m]) }),
  req: requestArb(homeVip),
  early: fc.uint8Array({ maxLength: 64 }),
  mutate: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 16 }), fc.integer({ min: 0, max: 2 })) }),
  noise: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }) }),
  cuts: fc.array(fc.nat(), { maxLength: 4 })
}).map(s => {
  if (s.noise != null) return { bytes: Buffer.from(s.noise), cuts: s.cuts, noise: true }
  const r = s.req
  let bytes = Buffer.from([5, s.methods.length, ...s.methods, r.ver, r.cmd, r.rsv, r.atyp, ...r.addr, ...u16(r.port), ...s.early])
  let oracle: number | 'closed' | 'no-method' | undefined = s.methods.includes(0) ? expectedReply(r, homeVip) : 'no-method'
  if (s.mutate != null) {
    const [a, b, junk, how] = s.mutate
    oracle = undefined
    if (how === 0) bytes = bytes.subarray(0, a % (bytes.length + 1))
    else if (how === 1) { bytes = Buffer.from(bytes); bytes[a % bytes.length] ^= (b % 255) + 1 } else bytes = Buffer.concat([bytes.subarray(0, a % (bytes.length + 1)), junk, bytes.subarray(a % (bytes.length + 1))])
  }
  return { bytes, cuts: s.cuts, oracle, noise: false }
})

/**
 * Check the server's bytes against the protocol: method selection, then
 * (for the no-auth server) one reply, then (success only) the echo of what
 * followed the request. Returns the reply code, or undefined when none came.
 */
function checkServerBytes (got: Buffer, sent: Buffer, cutShort = false): number | 'no-method' | undefined {
  if (got.length === 0) return undefined
  assert.ok(got.length >= 2, `partial method selection ${got.toString('hex')}`)
  assert.equal(got[0], 5)
  assert.ok(got[1] === 0x00 || got[1] === 0xff, `method ${got[1]}`)
  if (got[1] === 0xff) {
    assert.equal(got.length, 2, 'nothing after "no acceptable method"')
    return 'no-method'
  }
  const rest = got.subarray(2)
  if (rest.length === 0) return undefined
  assert.ok(rest.length >= 10, `short reply ${rest.toString('hex')}`)
  assert.equal(rest[0], 5)
  assert.ok(rest[1] <= 8, `REP ${rest[1]}`)
  assert.equal(rest[2], 0)
  assert.ok(rest[3] === 1 || rest[3] === 4, `ATYP ${rest[3]}`)
  const len = rest[3] === 1 ? 10 : 22
  const after = rest.subarray(len)
  if (rest[1] !== SOCKS_REPLY.SUCCEEDED) assert.equal(after.length, 0, 'nothing after a failure reply')
  else if (cutShort) assert.ok(sent.includes(after), 'the tunnel echoes what followed the request')
  else assert.ok(sent.subarray(sent.length - after.length).equals(after), 'the tunnel echoes exactly what followed the request')
  return rest[1]
}

function pieces (bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map(c => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let prev = 0
  for (const c of [...at, bytes.length]) { out.push(bytes.subarray(prev, c)); prev = c }
  return out
}

describe('SOCKS5 gateway fuzz', () => {
  let vips: VirtualIpTable
  let homeVip: string
  let gw: SocksGateway
  let authed: SocksGateway
  let echoServer: { port: number, close: () => Promise<void> }
  const crashes: Error[] = []
  const onCrash = (err: Error): void => { crashes.push(err) }

  before(async () => {
    process.on('uncaughtException', onCrash)
    process.on('unhandledRejection', onCrash)
    const [home, laptop] = await peerIds(2)
    vips = createVirtualIpTable()
    homeVip = vips.assign(home, 'home.grewal')
    const node = stubNode({ 'home.grewal': home, 'laptop.grewal': laptop })
    echoServer = await echo()
    const closedPort = await freePort()
    // passthrough stays on loopback: port 80 is the echo server, anything else a closed port
    const loopback = (o: { port: number }): any => connect({ host: '127.0.0.1', port: o.port === 80 ? echoServer.port : closedPort, allowHalfOpen: true })
    gw = createSocksGateway({ listen: '127.0.0.1:0', passthrough: true, handshakeTimeout: TIMEOUT_MS, maxConnections: 4096 }, { node, vips, connect: loopback })
    authed = createSocksGateway({ listen: '127.0.0.1:0', passthrough: true, handshakeTimeout: TIMEOUT_MS, username: 'u', password: 'pw' }, { node, vips, connect: loopback })
    await gw.start()
    await authed.start()
  })
  after(async () => {
    await gw?.stop()
    await authed?.stop()
    await echoServer?.close()
    process.off('uncaughtException', onCrash)
    process.off('unhandledRejection', onCrash)
  })

  it(`${CASES} sessions (well-formed, mutated, noise) with EOF: valid bytes, right reply codes, closed within the handshake timeout`, async (t) => {
    const start = performance.now()
    let replies = 0
    await fc.assert(fc.asyncProperty(fc.array(sessionArb(homeVip), { minLength: BATCH, maxLength: BATCH }), async (sessions) => {
      await Promise.all(sessions.map(async (s) => {
        const r = await rawExchange(gw.address.port, pieces(s.bytes, s.cuts), { end: true, deadlineMs: TIMEOUT_MS + 3000 })
        assert.equal(r.timedOut, false, 'the connection was closed')
        const rep = checkServerBytes(r.received, s.bytes)
        if (rep !== SOCKS_REPLY.SUCCEEDED) assert.ok(r.closedAfter <= TIMEOUT_MS + SLACK_MS, `closed after ${r.closedAfter} ms`)
        if (typeof rep === 'number') replies++
        if (s.oracle === 'closed') assert.equal(r.received.length, 2, 'a bad request version closes without a reply')
        else if (s.oracle != null) assert.equal(rep, s.oracle, `${s.bytes.toString('hex')}`)
      }))
    }), { numRuns: Math.ceil(CASES / BATCH) })
    assert.deepEqual(crashes, [])
    assert.ok(replies > CASES / 2, `${replies} replies: the generator reaches the reply stage`)
    t.diagnostic(`${CASES} sessions in ${Math.round(performance.now() - start)} ms, ${replies} replies`)
  })

  it(`${IDLE_CASES} idle or stalled clients (no EOF, slow drip) are closed within the handshake timeout`, async (t) => {
    const start = performance.now()
    const stalledArb = fc.tuple(sessionArb(homeVip), fc.nat(), fc.boolean()).map(([s, cut, hang]) => {
      // either a prefix of a handshake, or a complete request for the port whose tunnel never opens
      if (hang) return { chunks: [Buffer.from([5, 1, 0, 5, 1, 0, 3, 11, ...Buffer.from('home.grewal'), 0, 5])], hang }
      return { chunks: pieces(s.bytes.subarray(0, cut % (s.bytes.length + 1)), [cut >> 3, cut >> 5]), hang }
    })
    await fc.assert(fc.asyncProperty(fc.array(stalledArb, { minLength: IDLE_BATCH, maxLength: IDLE_BATCH }), async (stalled) => {
      await Promise.all(stalled.map(async (s) => {
        // a prefix that happens to be a whole request may open a (legitimate, idle) tunnel: we close that one
        const tunnel = (all: Buffer, sock: any): void => { if (all.length >= 12 && all[1] === 0 && all[3] === SOCKS_REPLY.SUCCEEDED) sock.destroy() }
        const r = await rawExchange(gw.address.port, s.chunks, { end: false, deadlineMs: TIMEOUT_MS + 3000, gapMs: 20, onData: tunnel })
        assert.equal(r.timedOut, false, 'the server closed the connection')
        const rep = checkServerBytes(r.received, Buffer.concat(s.chunks), true)
        if (rep !== SOCKS_REPLY.SUCCEEDED) assert.ok(r.closedAfter <= TIMEOUT_MS + SLACK_MS, `closed after ${r.closedAfter} ms`)
        if (s.hang) assert.equal(rep, SOCKS_REPLY.TTL_EXPIRED)
      }))
    }), { numRuns: Math.ceil(IDLE_CASES / IDLE_BATCH) })
    assert.deepEqual(crashes, [])
    t.diagnostic(`${IDLE_CASES} stalled clients in ${Math.round(performance.now() - start)} ms`)
  })

  it('RFC 1929: 2000 authentication attempts get 01 00 only with the right credentials, else 01 01 and a close', async () => {
    const credArb = fc.oneof(fc.constantFrom('u', 'pw', 'U', 'pw\u0000', ''), fc.string({ maxLength: 20 }))
    const attemptArb = fc.record({ user: credArb, pass: credArb, ver: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }) })
    await fc.assert(fc.asyncProperty(fc.array(attemptArb, { minLength: BATCH, maxLength: BATCH }), async (attempts) => {
      await Promise.all(attempts.map(async (a) => {
        const u = Buffer.from(a.user)
        const p = Buffer.from(a.pass)
        const bytes = Buffer.concat([Buffer.from([5, 1, 2, a.ver, u.length]), u, Buffer.from([p.length]), p, Buffer.from([5, 1, 0, 3, 11]), Buffer.from('example.com'), Buffer.from([0, 80])])
        const r = await rawExchange(authed.address.port, [bytes], { end: true, deadlineMs: TIMEOUT_MS + 3000 })
        assert.equal(r.timedOut, false)
        assert.deepEqual([...r.received.subarray(0, 2)], [5, 2])
        if (a.ver !== 1) {
          assert.equal(r.received.length, 2)
          return
        }
        const good = a.user === 'u' && a.pass === 'pw'
        assert.deepEqual([...r.received.subarray(2, 4)], [1, good ? 0 : 1], `${a.user}/${a.pass}`)
        if (good) assert.equal(r.received[5], SOCKS_REPLY.SUCCEEDED)
        else assert.equal(r.received.length, 4)
      }))
    }), { numRuns: 200 })
    assert.deepEqual(crashes, [])
  })

  it('serves normally afterwards, with no connection left behind', async () => {
    const r = await rawExchange(gw.address.port, [Buffer.from([5, 1, 0, 5, 1, 0, 3, 11, ...Buffer.from('home.grewal'), 0, 2])], { end: true, deadlineMs: 3000 })
    assert.equal(r.received[3], SOCKS_REPLY.CONNECTION_REFUSED)
    const deadline = Date.now() + 3000
    while (Date.now() < deadline && gw.connections().handshaking + gw.connections().established > 0) await new Promise(resolve => setTimeout(resolve, 20))
    assert.deepEqual(gw.connections(), { handshaking: 0, established: 0 })
  })
})
