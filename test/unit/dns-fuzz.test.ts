/**
 * Property/fuzz tests of the DNS gateway: a real server on 127.0.0.1 with a
 * stub resolver, fed well-formed, mutated and random messages over UDP and
 * TCP. Nothing may crash it; every answer must be well-formed and small
 * enough; every TCP connection must close within the idle timeout.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { connect } from 'node:net'
import fc from 'fast-check'
import { createDnsGateway, createVirtualIpTable, NameNotFoundError, type DnsGateway, type VirtualIpTable } from '../../src/index.js'
import { DNS_RCODE, parseDnsQuery } from '../../src/gateway/dns/message.js'
import { decode, dnsQuery, peerIds } from '../fixtures/gateway.js'

/** UDP cases; each is one datagram plus a liveness probe. */
const UDP_CASES = 20_000
/** TCP cases (connections), run in concurrent batches. */
const TCP_CASES = 1_000
const TCP_BATCH = 25
const IDLE_MS = 250

const KNOWN_LABELS = ['home', 'laptop', 'nope', 'broken', 'grewal', 'alice', 'p2p', 'mesh', 'example', 'net', 'com', 'in-addr', 'arpa', '10', '64', '1', '255', 'HOME', 'P2P', '_tcp', '-x', '']

function encodeName (labels: Uint8Array[]): number[] {
  const out: number[] = []
  for (const l of labels) out.push(l.length & 0xff, ...l)
  return out
}

const labelArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KNOWN_LABELS).map(s => Uint8Array.from(Buffer.from(s, 'latin1'))) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 63 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 60, maxLength: 80 }) }
)

/** A name: labels, possibly ending in a compression pointer or a bogus length byte. */
const nameArb = fc.record({
  labels: fc.array(labelArb, { maxLength: 6 }),
  tail: fc.oneof(
    { weight: 6, arbitrary: fc.constant([0]) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0x3fff })).map(([t]) => [0xc0 | (t >> 8), t & 0xff]) },
    { weight: 1, arbitrary: fc.integer({ min: 0x40, max: 0xff }).map(b => [b]) },
    { weight: 1, arbitrary: fc.constant([]) }
  )
}).map(n => [...encodeName(n.labels), ...n.tail])

const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff]

/** Structured messages: header fields, one or more questions, optional OPT and junk records. */
const messageArb = fc.record({
  id: fc.integer({ min: 0, max: 0xffff }),
  b2: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0x01, 0x00) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  b3: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  qd: fc.oneof({ weight: 8, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
  an: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
  ns: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) }),
  name: nameArb,
  qtype: fc.oneof(fc.constantFrom(1, 28, 12, 6, 255, 16, 2, 41), fc.integer({ min: 0, max: 0xffff })),
  qclass: fc.oneof({ weight: 6, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
  opt: fc.option(fc.record({ size: fc.integer({ min: 0, max: 0xffff }), version: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }), rdata: fc.uint8Array({ maxLength: 12 }) })),
  junk: fc.array(fc.uint8Array({ maxLength: 30 }), { maxLength: 2 })
}).map(m => {
  const question = [...m.name, ...u16(m.qtype), ...u16(m.qclass)]
  const rrs: number[] = []
  let ar = 0
  if (m.opt != null) {
    rrs.push(0, 0, 41, ...u16(m.opt.size), 0, m.opt.version, 0, 0, ...u16(m.opt.rdata.length), ...m.opt.rdata)
    ar++
  }
  for (const j of m.junk) { rrs.push(...j); ar++ }
  return Uint8Array.from([...u16(m.id), m.b2, m.b3, ...u16(m.qd), ...u16(m.an), ...u16(m.ns), ...u16(ar), ...question, ...rrs])
})

/** Mutations of a message: none, truncation, byte flips, appended or inserted junk. */
const mutatedArb = fc.tuple(messageArb, fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 5 })).map(([m, a, b, junk, how]) => {
  const bytes = Buffer.from(m)
  switch (how) {
    case 1: return bytes.subarray(0, a % (bytes.length + 1))
    case 2: { const c = Buffer.from(bytes); if (c.length > 0) { c[a % c.length] ^= (b % 255) + 1; c[b % c.length] = a & 0xff } return c }
    case 3: return Buffer.concat([bytes, junk])
    case 4: { const at = a % (bytes.length + 1); return Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at)]) }
    default: return bytes
  }
})

const packetArb = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 700 }).map(b => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 12, maxLength: 40 }).map(b => Buffer.from(b)) },
  { weight: 6, arbitrary: mutatedArb }
)

/** Well-formed A queries with a known meaning, and what they must get. */
const HOSTS = { home: 'NOERROR', laptop: 'NOERROR', nope: 'NXDOMAIN', broken: 'SERVFAIL' } as const
const semanticArb = fc.record({
  host: fc.constantFrom(...Object.keys(HOSTS) as Array<keyof typeof HOSTS>),
  form: fc.constantFrom('p2p', 'suffix', 'bare', 'outside', 'deep'),
  upper: fc.boolean(),
  edns: fc.option(fc.integer({ min: 0, max: 0xffff })),
  id: fc.integer({ min: 0, max: 0xffff })
})

describe('DNS gateway fuzz', () => {
  let vips: VirtualIpTable
  let gw: DnsGateway
  let peers: Record<string, string>
  let udp: UdpSocket
  const inbox: Buffer[] = []
  let notify: (() => void) | undefined
  const crashes: Error[] = []
  const onCrash = (err: Error): void => { crashes.push(err) }

  before(async () => {
    process.on('uncaughtException', onCrash)
    process.on('unhandledRejection', onCrash)
    const [home, laptop] = await peerIds(2)
    peers = { 'home.grewal': home, 'laptop.grewal': laptop }
    vips = createVirtualIpTable()
    const resolve = async (name: string): Promise<{ peerId: string }> => {
      if (peers[name] != null) return { peerId: peers[name] }
      if (name === 'broken.grewal') throw new Error('relay exploded')
      throw new NameNotFoundError(name, ['stub'])
    }
    gw = createDnsGateway({ listen: '127.0.0.1:0', suffixes: ['p2p', 'mesh.example.net'], bareNetworks: ['grewal'], tcpIdleTimeout: IDLE_MS }, { resolve, vips })
    await gw.start()
    udp = createSocket('udp4')
    udp.on('message', (m) => { inbox.push(m); notify?.() })
    await new Promise<void>(resolve => udp.bind(0, '127.0.0.1', () => { resolve() }))
  })
  after(async () => {
    udp?.close()
    await gw?.stop()
    process.off('uncaughtException', onCrash)
    process.off('unhandledRejection', onCrash)
  })

  const PROBE_ID = 0xfffe
  const probe = dnsQuery('zz-probe.invalid', 1, { id: PROBE_ID })
  const isProbeAnswer = (m: Buffer): boolean => {
    if (m.length < 12 || m.readUInt16BE(0) !== PROBE_ID) return false
    try { return decode(m).questions[0]?.name === 'zz-probe.invalid' } catch { return false }
  }

  /** Send a datagram, then a probe; everything before the probe's answer answers the datagram. */
  async function sendAndCollect (msg: Uint8Array): Promise<Buffer[]> {
    inbox.length = 0
    udp.send(msg, gw.address.port, '127.0.0.1')
    udp.send(probe, gw.address.port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { notify = undefined; reject(new Error('the server stopped answering (no probe answer in 2 s)')) }, 2000)
      notify = () => {
        if (inbox.some(isProbeAnswer)) { clearTimeout(timer); notify = undefined; resolve() }
      }
      notify()
    })
    const i = inbox.findIndex(isProbeAnswer)
    return inbox.slice(0, i)
  }

  function checkAnswer (query: Uint8Array, answer: Buffer): void {
    assert.ok(answer.length >= 12, 'an answer has a header')
    assert.equal(answer.readUInt16BE(0), Buffer.from(query).readUInt16BE(0), 'same ID')
    assert.equal(answer[2] & 0x80, 0x80, 'QR set')
    assert.equal((answer[2] >> 3) & 0x0f, (query[2] >> 3) & 0x0f, 'opcode echoed')
    const p = decode(answer)
    assert.deepEqual(p.errors.map(e => e.message), [], 'dns2 decodes our answer cleanly')
    assert.ok([0, 1, 2, 3, 4, 5, 16].includes(p.header.rcode), `rcode ${p.header.rcode}`)
    // no EDNS in the query (no root OPT record bytes at all): the classic 512-byte limit
    const mayHaveOpt = Buffer.from(query).includes(Buffer.from([0, 0, 41]))
    assert.ok(answer.length <= (mayHaveOpt ? 1232 : 512), `answer of ${answer.length} bytes`)
    if (p.questions.length > 0) {
      const parsed = parseDnsQuery(query)
      assert.equal(parsed.kind, 'query')
      if (parsed.kind === 'query') assert.equal(p.questions[0].name.toLowerCase(), parsed.query.question.lower)
    }
  }

  it(`survives ${UDP_CASES} structured, mutated and random UDP messages, answering exactly the queries`, async (t) => {
    const start = performance.now()
    await fc.assert(fc.asyncProperty(packetArb, async (msg) => {
      const answers = await sendAndCollect(msg)
      const isQuery = msg.length >= 12 && (msg[2] & 0x80) === 0
      assert.equal(answers.length, isQuery ? 1 : 0, `answers to ${msg.toString('hex')}`)
      if (isQuery) checkAnswer(msg, answers[0])
    }), { numRuns: UDP_CASES, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31), verbose: 1 })
    assert.deepEqual(crashes, [])
    t.diagnostic(`${UDP_CASES} udp cases in ${Math.round(performance.now() - start)} ms`)
  })

  it('answers well-formed queries exactly (A, NXDOMAIN, SERVFAIL, REFUSED), whatever the case and EDNS size', async () => {
    await fc.assert(fc.asyncProperty(semanticArb, async (c) => {
      const net = c.form === 'outside' ? 'com' : 'grewal'
      let name = c.form === 'p2p' ? `${c.host}.${net}.p2p` : c.form === 'suffix' ? `${c.host}.${net}.mesh.example.net` : c.form === 'deep' ? `x.${c.host}.${net}.p2p` : `${c.host}.${net}`
      if (c.upper) name = name.toUpperCase()
      const q = dnsQuery(name, 1, { id: c.id, edns: c.edns ?? undefined })
      const answers = await sendAndCollect(q)
      assert.equal(answers.length, 1)
      checkAnswer(q, answers[0])
      const p = decode(answers[0])
      const want = c.form === 'outside' ? 'REFUSED' : c.form === 'deep' ? 'NXDOMAIN' : HOSTS[c.host]
      assert.equal(p.header.rcode, DNS_RCODE[want], name)
      if (want === 'NOERROR') {
        assert.equal(p.answers.length, 1)
        assert.equal((p.answers[0] as any).address, vips.byPeer(peers[`${c.host}.grewal`])!.ip)
        assert.equal(p.answers[0].name, name, 'owner name keeps the question\'s case')
      }
      assert.equal(p.additionals.some(r => r.type === 41), c.edns != null, 'OPT in the answer exactly when the query had one')
    }), { numRuns: 2000 })
  })

  it(`TCP: ${TCP_CASES} connections of random frames and chunking; answers are framed and clean, every connection closes within the idle timeout`, async (t) => {
    const start = performance.now()
    const frameArb = fc.oneof(
      { weight: 4, arbitrary: packetArb.map(p => ({ bytes: Buffer.concat([Buffer.from(u16(p.length)), p]), complete: true, msg: p })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 60 }).map(b => ({ bytes: Buffer.from(b), complete: false, msg: undefined as Buffer | undefined })) }
    )
    const connArb = fc.record({ frames: fc.array(frameArb, { minLength: 0, maxLength: 4 }), cuts: fc.array(fc.nat(), { maxLength: 4 }), end: fc.boolean() })
    await fc.assert(fc.asyncProperty(fc.array(connArb, { minLength: TCP_BATCH, maxLength: TCP_BATCH }), async (conns) => {
      await Promise.all(conns.map(async (c) => {
        const all = Buffer.concat(c.frames.map(f => f.bytes))
        const cuts = [...new Set(c.cuts.map(x => x % (all.length + 1)))].sort((a, b) => a - b)
        const pieces: Buffer[] = []
        let prev = 0
        for (const cut of [...cuts, all.length]) { pieces.push(all.subarray(prev, cut)); prev = cut }
        const got = await new Promise<{ data: Buffer, ms: number, timedOut: boolean }>((resolve) => {
          const s = connect({ host: '127.0.0.1', port: gw.address.port, allowHalfOpen: true })
          const chunks: Buffer[] = []
          let last = performance.now()
          const timer = setTimeout(() => { s.destroy(); resolve({ data: Buffer.concat(chunks), ms: -1, timedOut: true }) }, IDLE_MS + 3000)
          s.on('data', d => chunks.push(d))
          s.on('error', () => {})
          s.on('end', () => { if (!s.writableEnded) s.end() })
          s.on('close', () => { clearTimeout(timer); resolve({ data: Buffer.concat(chunks), ms: performance.now() - last, timedOut: false }) })
          s.on('connect', () => {
            void (async () => {
              for (const p of pieces) {
                if (s.destroyed) return
                if (p.length > 0) s.write(p)
                await new Promise(resolve => setImmediate(resolve))
              }
              last = performance.now()
              if (c.end && !s.destroyed) s.end()
            })()
          })
        })
        assert.equal(got.timedOut, false, 'the server closed the connection')
        assert.ok(got.ms <= IDLE_MS + 1500, `closed ${got.ms} ms after the last byte`)
        // every answer is a whole frame holding a clean message
        let answers = 0
        for (let off = 0; off < got.data.length;) {
          assert.ok(off + 2 <= got.data.length, 'frame header')
          const len = got.data.readUInt16BE(off)
          assert.ok(off + 2 + len <= got.data.length, 'whole frame')
          const p = decode(got.data.subarray(off + 2, off + 2 + len))
          assert.deepEqual(p.errors.map(e => e.message), [])
          answers++
          off += 2 + len
        }
        // a frame holding a message is at least 2 + 12 bytes
        assert.ok(answers <= Math.floor(all.length / 14), `${answers} answers to ${all.length} bytes`)
      }))
    }), { numRuns: Math.ceil(TCP_CASES / TCP_BATCH) })
    assert.deepEqual(crashes, [])
    t.diagnostic(`${TCP_CASES} tcp connections in ${Math.round(performance.now() - start)} ms`)
  })

  it('the bounded parser never throws on 100k random and mutated messages', () => {
    fc.assert(fc.property(packetArb, (msg) => {
      const r = parseDnsQuery(msg)
      assert.ok(['drop', 'error', 'query'].includes(r.kind))
    }), { numRuns: 100_000 })
  })

  it('still answers normally afterwards', async () => {
    const answers = await sendAndCollect(dnsQuery('home.grewal.p2p', 1, { id: 9 }))
    assert.equal((decode(answers[0]).answers[0] as any).address, vips.byPeer(peers['home.grewal'])!.ip)
    assert.deepEqual(crashes, [])
  })
})
