import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { connect, createServer } from 'node:net'
import { Packet } from 'dns2'
import { createDnsGateway, createVirtualIpTable, NameNotFoundError, type DnsGateway, type VirtualIpTable } from '../../src/index.js'
import { DNS_RCODE, DNS_TYPE } from '../../src/gateway/dns/message.js'
import { decode, dnsQuery, peerIds, tcpAsk, udpAsk } from '../fixtures/gateway.js'

/** Header + raw question bytes, for malformed queries. */
function raw (header: { id?: number, flags?: number, qd?: number, an?: number, ns?: number, ar?: number }, body: number[]): Buffer {
  const h = Buffer.alloc(12)
  h.writeUInt16BE(header.id ?? 0xbeef, 0)
  h.writeUInt16BE(header.flags ?? 0x0100, 2)
  h.writeUInt16BE(header.qd ?? 1, 4)
  h.writeUInt16BE(header.an ?? 0, 6)
  h.writeUInt16BE(header.ns ?? 0, 8)
  h.writeUInt16BE(header.ar ?? 0, 10)
  return Buffer.concat([h, Buffer.from(body)])
}

const rcodeOf = (m: Buffer): number => m[3] & 0x0f

describe('DNS gateway (stub resolver)', () => {
  let home: string
  let laptop: string
  let vips: VirtualIpTable
  let gw: DnsGateway
  let bare: DnsGateway
  const resolved: string[] = []
  let slow = 0

  const resolve = async (name: string): Promise<{ peerId: string }> => {
    resolved.push(name)
    if (name === 'home.grewal') return { peerId: home }
    if (name === 'laptop.grewal') return { peerId: laptop }
    if (name === 'slow.grewal') {
      slow++
      await new Promise(resolve => setTimeout(resolve, 300))
      return { peerId: laptop }
    }
    if (name === 'broken.grewal') throw new Error('relay exploded')
    throw new NameNotFoundError(name, ['stub'])
  }

  before(async () => {
    [home, laptop] = await peerIds(2)
    vips = createVirtualIpTable()
    gw = createDnsGateway({ listen: '127.0.0.1:0', ttl: 42, tcpIdleTimeout: 400 }, { resolve, vips })
    bare = createDnsGateway({ listen: '127.0.0.1:0', bareNetworks: ['grewal'], suffixes: ['p2p', 'mesh.example.net'] }, { resolve, vips })
    await gw.start()
    await bare.start()
  })
  after(async () => {
    await gw?.stop()
    await bare?.stop()
  })

  it('answers A for <host>.<network>.p2p with the virtual IP, over UDP and TCP, keeping the question\'s case', async () => {
    for (const ask of [udpAsk, tcpAsk]) {
      const m = await ask(gw.address.port, dnsQuery('HoMe.Grewal.P2P', DNS_TYPE.A, { id: 77 }))
      assert.ok(m != null)
      const p = decode(m)
      assert.deepEqual(p.errors, [])
      assert.equal(p.header.id, 77)
      assert.equal(p.header.qr, 1)
      assert.equal(p.header.aa, 1)
      assert.equal(p.header.rcode, DNS_RCODE.NOERROR)
      assert.equal(p.questions[0].name, 'HoMe.Grewal.P2P')
      assert.equal(p.answers.length, 1)
      assert.equal((p.answers[0] as any).address, vips.byPeer(home)?.ip)
      assert.equal(p.answers[0].ttl, 42)
      assert.match((p.answers[0] as any).address, /^10\.64\.\d+\.\d+$/)
    }
  })

  it('answers PTR for assigned virtual IPs, and NXDOMAIN for unassigned ones', async () => {
    await udpAsk(gw.address.port, dnsQuery('laptop.grewal.p2p', DNS_TYPE.A))
    const [a, b, c, d] = vips.byPeer(laptop)!.ip.split('.')
    const m = decode((await udpAsk(gw.address.port, dnsQuery(`${d}.${c}.${b}.${a}.in-addr.arpa`, DNS_TYPE.PTR)))!)
    assert.equal(m.header.rcode, DNS_RCODE.NOERROR)
    assert.equal((m.answers[0] as any).domain, 'laptop.grewal.p2p')
    const other = d === '7' ? '8' : '7'
    const none = decode((await udpAsk(gw.address.port, dnsQuery(`${other}.200.64.10.in-addr.arpa`, DNS_TYPE.PTR)))!)
    assert.equal(none.header.rcode, DNS_RCODE.NXDOMAIN)
    const partial = decode((await udpAsk(gw.address.port, dnsQuery('200.64.10.in-addr.arpa', DNS_TYPE.PTR)))!)
    assert.equal(partial.header.rcode, DNS_RCODE.NOERROR)
    assert.equal(partial.answers.length, 0)
  })

  it('NXDOMAIN for unknown names, NODATA for other types and for network names, both with the zone\'s SOA', async () => {
    const nx = decode((await udpAsk(gw.address.port, dnsQuery('nope.grewal.p2p', DNS_TYPE.A)))!)
    assert.equal(nx.header.rcode, DNS_RCODE.NXDOMAIN)
    assert.equal(nx.authorities[0].type, DNS_TYPE.SOA)
    assert.equal(nx.authorities[0].name, 'p2p')
    assert.equal((nx.authorities[0] as any).minimum, 42)
    for (const [name, type] of [['home.grewal.p2p', DNS_TYPE.AAAA], ['home.grewal.p2p', 16], ['grewal.p2p', DNS_TYPE.A], ['p2p', DNS_TYPE.A]] as const) {
      const m = decode((await udpAsk(gw.address.port, dnsQuery(name, type)))!)
      assert.equal(m.header.rcode, DNS_RCODE.NOERROR, `${name} ${type}`)
      assert.equal(m.answers.length, 0, `${name} ${type}`)
      assert.equal(m.authorities[0].type, DNS_TYPE.SOA)
    }
    for (const name of ['a.home.grewal.p2p', '_ssh._tcp.home.grewal.p2p', '-x.grewal.p2p']) {
      assert.equal(decode((await udpAsk(gw.address.port, dnsQuery(name, DNS_TYPE.A)))!).header.rcode, DNS_RCODE.NXDOMAIN, name)
    }
    const soa = decode((await udpAsk(gw.address.port, dnsQuery('p2p', DNS_TYPE.SOA)))!)
    assert.equal(soa.answers[0].type, DNS_TYPE.SOA)
  })

  it('REFUSED outside our zones by default; SERVFAIL when resolving fails for another reason than "not found"', async () => {
    for (const name of ['example.com', 'home.grewal', 'localhost', '']) {
      const m = decode((await udpAsk(gw.address.port, dnsQuery(name, DNS_TYPE.A)))!)
      assert.equal(m.header.rcode, DNS_RCODE.REFUSED, name)
    }
    assert.equal(decode((await udpAsk(gw.address.port, dnsQuery('broken.grewal.p2p', DNS_TYPE.A)))!).header.rcode, DNS_RCODE.SERVFAIL)
  })

  it('optionally answers bare <host>.<network> names and extra suffixes', async () => {
    for (const name of ['home.grewal', 'home.grewal.p2p', 'home.grewal.mesh.example.net']) {
      const m = decode((await udpAsk(bare.address.port, dnsQuery(name, DNS_TYPE.A)))!)
      assert.equal((m.answers[0] as any)?.address, vips.byPeer(home)?.ip, name)
    }
    assert.equal(decode((await udpAsk(bare.address.port, dnsQuery('nope.grewal', DNS_TYPE.A)))!).header.rcode, DNS_RCODE.NXDOMAIN)
    assert.equal(decode((await udpAsk(bare.address.port, dnsQuery('home.alice', DNS_TYPE.A)))!).header.rcode, DNS_RCODE.REFUSED)
  })

  it('resolves a name once for concurrent askers', async () => {
    slow = 0
    const answers = await Promise.all([1, 2, 3, 4].map(async i => await udpAsk(gw.address.port, dnsQuery('slow.grewal.p2p', DNS_TYPE.A, { id: i }))))
    assert.equal(slow, 1)
    for (const [i, m] of answers.entries()) assert.equal(decode(m!).header.id, i + 1)
  })

  it('drops what is not a query, and answers malformed queries with FORMERR, NOTIMP or BADVERS', async () => {
    const port = gw.address.port
    assert.equal(await udpAsk(port, Buffer.from([1, 2, 3]), 300), undefined, 'shorter than a header')
    assert.equal(await udpAsk(port, dnsQuery('home.grewal.p2p', 1).fill(0x81, 2, 3), 300), undefined, 'a response')
    const home = [4, 104, 111, 109, 101, 6, 103, 114, 101, 119, 97, 108, 3, 112, 50, 112, 0, 0, 1, 0, 1]
    const cases: Array<[string, Buffer, number]> = [
      ['two questions', raw({ qd: 2 }, [...home, ...home]), DNS_RCODE.FORMERR],
      ['no question', raw({ qd: 0 }, []), DNS_RCODE.FORMERR],
      ['pointer to itself', raw({}, [0xc0, 12, 0, 1, 0, 1]), DNS_RCODE.FORMERR],
      ['pointer forward', raw({}, [0xc0, 14, 0, 0, 0, 1, 0, 1]), DNS_RCODE.FORMERR],
      ['pointer into the header', raw({}, [0xc0, 2, 0, 1, 0, 1]), DNS_RCODE.FORMERR],
      ['label type 0x40', raw({}, [0x40, 1, 0, 0, 1, 0, 1]), DNS_RCODE.FORMERR],
      ['name over 255 octets', raw({}, [...Array(5).fill([63, ...Array(63).fill(97)]).flat(), 0, 0, 1, 0, 1]), DNS_RCODE.FORMERR],
      ['truncated question', raw({}, home.slice(0, 10)), DNS_RCODE.FORMERR],
      ['missing type', raw({}, home.slice(0, 17)), DNS_RCODE.FORMERR],
      ['record count beyond the data', raw({ ar: 3 }, home), DNS_RCODE.FORMERR],
      ['two OPT records', raw({ ar: 2 }, [...home, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]), DNS_RCODE.FORMERR],
      ['opcode STATUS', raw({ flags: 0x1000 }, home), DNS_RCODE.NOTIMP]
    ]
    for (const [what, msg, rcode] of cases) {
      for (const ask of [udpAsk, tcpAsk]) {
        const m = await ask(port, msg)
        assert.ok(m != null, what)
        assert.equal(m.readUInt16BE(0), 0xbeef, what)
        assert.equal(m[2] & 0x80, 0x80, what)
        assert.equal(rcodeOf(m), rcode, what)
        assert.deepEqual(decode(m).errors, [], what)
      }
    }
    // EDNS version 1: BADVERS, whose upper bits ride in the OPT record
    const v1 = raw({ ar: 1 }, [...home, 0, 0, 41, 4, 0, 0, 1, 0, 0, 0, 0])
    const m = decode((await udpAsk(port, v1))!)
    assert.equal(m.header.rcode, DNS_RCODE.BADVERS)
  })

  it('TCP: pipelined queries each get an answer; a frame cut by EOF and an idle connection are closed', async () => {
    const frames = [1, 2, 3].map(i => { const q = dnsQuery('home.grewal.p2p', 1, { id: i }); const l = Buffer.alloc(2); l.writeUInt16BE(q.length); return Buffer.concat([l, q]) })
    const got = await new Promise<Buffer>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: gw.address.port })
      const chunks: Buffer[] = []
      const timer = setTimeout(() => { s.destroy(); reject(new Error('timeout')) }, 3000)
      s.on('data', d => chunks.push(d))
      s.on('end', () => { clearTimeout(timer); s.end(); resolve(Buffer.concat(chunks)) })
      s.on('error', reject)
      s.end(Buffer.concat(frames))
    })
    const ids: number[] = []
    for (let off = 0; off < got.length;) {
      const len = got.readUInt16BE(off)
      ids.push(decode(got.subarray(off + 2, off + 2 + len)).header.id)
      off += 2 + len
    }
    assert.deepEqual(ids.sort(), [1, 2, 3])

    for (const [what, bytes, end] of [['cut frame', frames[0].subarray(0, 9), true], ['idle', Buffer.alloc(0), false], ['slow drip', frames[0].subarray(0, 5), false]] as const) {
      const start = performance.now()
      const received = await new Promise<number>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: gw.address.port })
        let n = 0
        const timer = setTimeout(() => { s.destroy(); resolve(-1) }, 3000)
        s.on('data', d => { n += d.length })
        s.on('error', () => {})
        s.on('close', () => { clearTimeout(timer); resolve(n) })
        if (end) s.end(bytes)
        else s.write(bytes)
      })
      assert.equal(received, 0, what)
      assert.ok(performance.now() - start < 2000, `${what}: closed after ${performance.now() - start} ms`)
    }
  })

  it('SERVFAIL past the in-flight cap', async () => {
    const g = createDnsGateway({ listen: '127.0.0.1:0', maxInFlight: 1 }, { resolve, vips })
    await g.start()
    try {
      const first = udpAsk(g.address.port, dnsQuery('slow.grewal.p2p', 1, { id: 1 }))
      await new Promise(resolve => setTimeout(resolve, 50))
      const second = decode((await udpAsk(g.address.port, dnsQuery('home.grewal.p2p', 1, { id: 2 })))!)
      assert.equal(second.header.rcode, DNS_RCODE.SERVFAIL)
      assert.equal(decode((await first)!).header.rcode, DNS_RCODE.NOERROR)
    } finally {
      await g.stop()
    }
  })

  it('upstream "system": forwards other names (UDP and TCP) and truncates answers too big for the client', async () => {
    // a fake upstream on loopback: 40 A records for anything
    const answerFor = (q: Buffer): Buffer => {
      const req = Packet.parse(q)
      const res = Packet.createResponseFromRequest(req)
      for (let i = 1; i <= 40; i++) res.answers.push({ name: req.questions[0].name, type: 1, class: 1, ttl: 5, address: `192.0.2.${i}` } as any)
      return res.toBuffer()
    }
    const tcp = createServer((s) => {
      s.on('error', () => {})
      s.once('data', (d: Buffer) => {
        const a = answerFor(d.subarray(2, 2 + d.readUInt16BE(0)))
        const l = Buffer.alloc(2)
        l.writeUInt16BE(a.length)
        s.end(Buffer.concat([l, a]))
      })
    })
    // UDP and TCP on one port: the TCP port of a free UDP port may be taken (another
    // process on a busy machine), so try a few UDP ports, each once
    let udp!: ReturnType<typeof createSocket>
    for (let attempt = 1; ; attempt++) {
      udp = createSocket('udp4')
      await new Promise<void>(resolve => udp.bind(0, '127.0.0.1', () => { resolve() }))
      const bound = await new Promise<boolean>(resolve => {
        const taken = (): void => { resolve(false) }
        tcp.once('error', taken)
        tcp.listen(udp.address().port, '127.0.0.1', () => { tcp.off('error', taken); resolve(true) })
      })
      if (bound) break
      udp.close()
      assert.ok(attempt < 20, 'no port free for both UDP and TCP on 127.0.0.1 after 20 tries')
    }
    udp.on('message', (m, r) => { udp.send(answerFor(m), r.port, r.address) })
    const g = createDnsGateway({ listen: '127.0.0.1:0', upstream: 'system', upstreamServers: [{ host: '127.0.0.1', port: udp.address().port }] }, { resolve, vips })
    await g.start()
    try {
      const big = decode((await udpAsk(g.address.port, dnsQuery('example.com', 1, { edns: 4096 })))!)
      assert.equal(big.answers.length, 40)
      const small = await udpAsk(g.address.port, dnsQuery('example.com', 1))
      assert.ok(small!.length <= 512)
      assert.equal(decode(small!).header.tc, 1)
      const overTcp = decode((await tcpAsk(g.address.port, dnsQuery('example.com', 1)))!)
      assert.equal(overTcp.answers.length, 40)
      assert.equal(overTcp.header.tc, 0)
      // our own zone is never forwarded
      assert.equal(decode((await udpAsk(g.address.port, dnsQuery('nope.grewal.p2p', 1)))!).header.rcode, DNS_RCODE.NXDOMAIN)
    } finally {
      await g.stop()
      udp.close()
      tcp.close()
    }
  })
})
