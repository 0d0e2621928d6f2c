import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { crc32 } from 'node:zlib'
import fc from 'fast-check'
import { bindingResponse, createStunServer, parseBindingRequest, STUN_MAGIC_COOKIE, type StunServer } from '../../src/relay/stun-server.js'
import { stunBindAddresses } from '../../src/relay/stun-addresses.js'

function request (txid = randomBytes(12), attrs: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(20)
  h.writeUInt16BE(0x0001, 0)
  h.writeUInt16BE(attrs.byteLength, 2)
  h.writeUInt32BE(STUN_MAGIC_COOKIE, 4)
  txid.copy(h, 8)
  return Buffer.concat([h, attrs])
}

/** Decode a Binding success: the XOR-mapped address, checking header, txid and fingerprint. */
function decode (res: Buffer, txid: Buffer): { ip: string, port: number, mappedIp: string, mappedPort: number } {
  assert.equal(res.readUInt16BE(0), 0x0101)
  assert.equal(res.readUInt16BE(2), res.byteLength - 20)
  assert.equal(res.readUInt32BE(4), STUN_MAGIC_COOKIE)
  assert.deepEqual(res.subarray(8, 20), txid)
  let off = 20
  const out: any = {}
  while (off < res.byteLength) {
    const type = res.readUInt16BE(off)
    const len = res.readUInt16BE(off + 2)
    const v = res.subarray(off + 4, off + 4 + len)
    if (type === 0x0020) {
      assert.equal(v[1], 0x01)
      out.port = v.readUInt16BE(2) ^ (STUN_MAGIC_COOKIE >>> 16)
      const c = Buffer.alloc(4); c.writeUInt32BE(STUN_MAGIC_COOKIE)
      out.ip = [...v.subarray(4, 8)].map((b, i) => b ^ c[i]).join('.')
    } else if (type === 0x0001) {
      out.mappedPort = v.readUInt16BE(2)
      out.mappedIp = [...v.subarray(4, 8)].join('.')
    } else if (type === 0x8028) {
      assert.equal(off + 8, res.byteLength, 'FINGERPRINT is last')
      assert.equal(v.readUInt32BE(0), (crc32(res.subarray(0, off)) ^ 0x5354554e) >>> 0)
    }
    off += 4 + len + ((4 - (len % 4)) % 4)
  }
  return out
}

async function ask (sock: Socket, port: number, msg: Buffer, timeoutMs = 500): Promise<Buffer | undefined> {
  return await new Promise(resolve => {
    const timer = setTimeout(() => { sock.off('message', on); resolve(undefined) }, timeoutMs)
    const on = (m: Buffer): void => { clearTimeout(timer); sock.off('message', on); resolve(m) }
    sock.on('message', on)
    sock.send(msg, port, '127.0.0.1')
  })
}

describe('STUN codec', () => {
  it('parses a Binding request and rejects other messages', () => {
    const txid = randomBytes(12)
    assert.deepEqual(parseBindingRequest(request(txid))?.transactionId, txid)
    // with a SOFTWARE attribute (padded) and a FINGERPRINT, as libjuice sends
    const sw = Buffer.from([0x80, 0x22, 0x00, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65, 0, 0, 0])
    assert.ok(parseBindingRequest(request(txid, sw)) != null)
    const wrongCookie = request(txid); wrongCookie.writeUInt32BE(0x12345678, 4)
    assert.equal(parseBindingRequest(wrongCookie), undefined)
    const indication = request(txid); indication.writeUInt16BE(0x0011, 0)
    assert.equal(parseBindingRequest(indication), undefined)
    const response = request(txid); response.writeUInt16BE(0x0101, 0)
    assert.equal(parseBindingRequest(response), undefined)
    const badLen = request(txid, sw); badLen.writeUInt16BE(8, 2)
    assert.equal(parseBindingRequest(badLen), undefined)
    const overrun = request(txid, Buffer.from([0x80, 0x22, 0x00, 0x40, 0, 0, 0, 0]))
    assert.equal(parseBindingRequest(overrun), undefined)
    assert.equal(parseBindingRequest(Buffer.alloc(19)), undefined)
  })

  it('answers with the XOR-mapped and mapped address (IPv4 and IPv6) and a valid fingerprint', () => {
    const txid = randomBytes(12)
    const res = bindingResponse({ transactionId: txid }, '198.51.100.2', 40000)
    const d = decode(res, txid)
    assert.deepEqual(d, { ip: '198.51.100.2', port: 40000, mappedIp: '198.51.100.2', mappedPort: 40000 })
    const v6 = bindingResponse({ transactionId: txid }, '2001:db8::1', 5)
    assert.equal(v6.readUInt16BE(0), 0x0101)
    // family 2, 16-byte address: xor of the last byte with the txid's last byte
    assert.equal(v6.readUInt16BE(22), 20)
    assert.equal(v6[24 + 4 + 15], 0x01 ^ txid[11])
  })

  it('never throws on arbitrary or mutated datagrams (fuzz)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => { parseBindingRequest(b) }), { numRuns: 5000 })
    fc.assert(fc.property(fc.nat(60), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }), (at, byte, tail) => {
      const m = Buffer.concat([request(randomBytes(12), Buffer.from([0x80, 0x22, 0x00, 0x04, 1, 2, 3, 4])), Buffer.from(tail)])
      if (at < m.byteLength) m[at] = byte
      const r = parseBindingRequest(m)
      if (r != null) assert.equal(r.transactionId.byteLength, 12)
    }), { numRuns: 5000 })
  })
})

describe('STUN server', () => {
  let server: StunServer
  let sock: Socket
  let clock = 0
  before(async () => {
    server = await createStunServer({ port: 0, host: '127.0.0.1', ratePerSecond: 10, burst: 5, now: () => clock })
    sock = createSocket('udp4')
    await new Promise<void>(resolve => sock.bind(0, '127.0.0.1', () => { resolve() }))
  })
  after(async () => { sock?.close(); await server?.close() })

  it('tells a client its own address and port', async () => {
    const txid = randomBytes(12)
    const res = await ask(sock, server.port, request(txid))
    assert.ok(res != null, 'no answer')
    const d = decode(res, txid)
    assert.equal(d.ip, '127.0.0.1')
    assert.equal(d.port, sock.address().port)
  })

  it('drops garbage silently and keeps answering', async () => {
    for (let i = 0; i < 200; i++) sock.send(randomBytes(i % 70), server.port, '127.0.0.1')
    sock.send(Buffer.alloc(0), server.port, '127.0.0.1')
    const txid = randomBytes(12)
    clock += 10_000
    const res = await ask(sock, server.port, request(txid))
    assert.ok(res != null, 'no answer after garbage')
    assert.equal(decode(res, txid).port, sock.address().port)
    assert.ok(server.stats().malformed >= 200)
  })

  it('rate-limits per source and refills over time', async () => {
    clock += 10_000
    const before = server.stats()
    let answered = 0
    for (let i = 0; i < 12; i++) {
      if (await ask(sock, server.port, request(), 200) != null) answered++
    }
    assert.equal(answered, 5, 'burst of 5 answered, the rest dropped')
    assert.equal(server.stats().limited - before.limited, 7)
    clock += 1000 // 10 tokens/s → capped at the burst of 5
    assert.ok(await ask(sock, server.port, request()) != null)
  })
})

/** Send a Binding request from `sock` to `host:port`; the answer and the address it came from. */
async function askAt (sock: Socket, host: string, port: number, timeoutMs = 500): Promise<{ from: string, ip: string } | undefined> {
  const txid = randomBytes(12)
  return await new Promise(resolve => {
    const timer = setTimeout(() => { sock.off('message', on); resolve(undefined) }, timeoutMs)
    const on = (m: Buffer, rinfo: { address: string, port: number }): void => {
      if (!m.subarray(8, 20).equals(txid)) return
      clearTimeout(timer)
      sock.off('message', on)
      resolve({ from: `${rinfo.address}:${rinfo.port}`, ip: decode(m, txid).ip })
    }
    sock.on('message', on)
    sock.send(request(txid), port, host)
  })
}

describe('STUN server on several addresses', () => {
  let sock: Socket
  before(async () => {
    sock = createSocket('udp4')
    await new Promise<void>(resolve => sock.bind(0, '127.0.0.1', () => { resolve() }))
  })
  after(() => { sock?.close() })

  it('answers each request from the address it was sent to (one socket per address, one port)', async () => {
    // `host` is what a responder without per-address sockets would bind; `hosts` takes precedence
    const server = await createStunServer({ port: 0, host: '127.0.0.1', hosts: () => ['127.0.0.1', '127.0.0.2'] })
    try {
      assert.deepEqual(server.addresses().sort(), ['127.0.0.1', '127.0.0.2'])
      for (const host of ['127.0.0.1', '127.0.0.2']) {
        const a = await askAt(sock, host, server.port)
        assert.ok(a != null, `no answer at ${host}`)
        assert.equal(a.from, `${host}:${server.port}`, 'the answer leaves from the address asked')
        assert.equal(a.ip, '127.0.0.1', 'and carries our address')
      }
    } finally {
      await server.close()
    }
  })

  it('follows added and removed addresses on the re-scan', async () => {
    let hosts = ['127.0.0.1']
    const server = await createStunServer({ port: 0, hosts: () => hosts, rescanInterval: 50 })
    try {
      assert.equal(await askAt(sock, '127.0.0.3', server.port, 200), undefined, 'not bound yet')
      hosts = ['127.0.0.1', '127.0.0.3']
      await new Promise(resolve => setTimeout(resolve, 300))
      assert.equal((await askAt(sock, '127.0.0.3', server.port))?.from, `127.0.0.3:${server.port}`)
      hosts = ['127.0.0.3']
      await new Promise(resolve => setTimeout(resolve, 300))
      assert.deepEqual(server.addresses(), ['127.0.0.3'])
      assert.equal(await askAt(sock, '127.0.0.1', server.port, 200), undefined, 'a removed address is let go')
    } finally {
      await server.close()
    }
  })

  it('rejects when no address can be bound', async () => {
    await assert.rejects(createStunServer({ port: 0, hosts: () => ['192.0.2.77'] }), /192\.0\.2\.77/)
    await assert.rejects(createStunServer({ port: 0, hosts: () => [] }), /no local address/)
  })
})

describe('STUN bind addresses from the relay listen addresses', () => {
  const table = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }, { address: '::1', family: 'IPv6', internal: true }],
    eth0: [
      { address: '203.0.113.10', family: 'IPv4', internal: false },
      { address: '203.0.113.11', family: 'IPv4', internal: false },
      { address: '2001:db8::10', family: 'IPv6', internal: false },
      { address: 'fe80::1', family: 'IPv6', internal: false }
    ]
  }
  it('a wildcard listen expands to every local address of its family, loopback and link-local left out', () => {
    assert.deepEqual(stunBindAddresses(['/ip4/0.0.0.0/tcp/7777', '/ip4/0.0.0.0/tcp/7778/ws'], table), ['203.0.113.10', '203.0.113.11'])
    assert.deepEqual(stunBindAddresses(['/ip6/::/tcp/7777'], table), ['2001:db8::10'])
  })
  it('a specific listen address is used as it is, loopback included (a relay on loopback answers STUN on loopback only)', () => {
    assert.deepEqual(stunBindAddresses(['/ip4/127.0.0.1/tcp/0'], table), ['127.0.0.1'])
    assert.deepEqual(stunBindAddresses(['/ip4/203.0.113.11/tcp/7777', '/ip4/0.0.0.0/tcp/7778/ws'], table), ['203.0.113.11', '203.0.113.10'])
    assert.deepEqual(stunBindAddresses(['/dns4/relay.example.net/tcp/7777', 'garbage'], table), [])
  })
})
