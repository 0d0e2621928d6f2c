/**
 * TCP semantics carried through real peerup processes: half-close in both
 * directions, a service's RST, and a relay that dies mid-transfer. Every
 * outcome is asserted as bytes (sha256) and as EOF vs reset.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { Harness, startMesh, tcpServer, dial, exchange, payload, sha256, freePort, type Mesh, type Proc } from '../fixtures/mesh.js'
import { observe, ResultQueue, withTimeout, writeAll } from '../fixtures/sockets.js'

const MiB = 1024 * 1024
const RESET_CODES = /^(ECONNRESET|EPIPE)$/

/** What a service saw on one connection. */
interface ServerSide {
  received: Buffer
  ended: boolean
  error?: NodeJS.ErrnoException
  sent?: Buffer
}

/** Read until EOF or error (or close) on the service side. */
async function readAll (s: Socket): Promise<ServerSide> {
  return await new Promise(resolve => {
    const chunks: Buffer[] = []
    const res: ServerSide = { received: Buffer.alloc(0), ended: false }
    const done = (): void => { res.received = Buffer.concat(chunks); resolve(res) }
    s.on('data', (d: Buffer) => chunks.push(d))
    s.on('end', () => { res.ended = true; done() })
    s.on('error', (err: NodeJS.ErrnoException) => { res.error ??= err; done() })
    s.on('close', done)
  })
}

describe('tunnel TCP semantics through real processes', () => {
  const h = new Harness()
  let mesh: Mesh

  // 1. request, FIN, then a 16 MiB response
  const halfClose = new ResultQueue<ServerSide>()
  // 2. banner + FIN at once, then keep reading
  const banner = new ResultQueue<ServerSide>()
  const BANNER = Buffer.from('SSH-2.0-peerup-test banner\r\n')
  // 3. RST after some bytes
  const rst = new ResultQueue<ServerSide>()
  // 4. a long, paced download
  const stream = new ResultQueue<ServerSide>()
  let stopStreaming = false

  before(async () => {
    const s1 = await tcpServer(h, s => {
      halfClose.push((async () => {
        const got = await readAll(s)
        if (!got.ended || got.error != null) return got
        got.sent = payload(16 * MiB)
        await writeAll(s, got.sent)
        s.end()
        return got
      })())
    })
    const s2 = await tcpServer(h, s => {
      s.end(BANNER)
      banner.push(readAll(s))
    })
    const s3 = await tcpServer(h, s => {
      rst.push(new Promise(resolve => {
        let n = 0
        const res: ServerSide = { received: Buffer.alloc(0), ended: false }
        s.on('data', (d: Buffer) => {
          n += d.length
          if (n >= 64 * 1024 && !s.destroyed) { s.resetAndDestroy(); resolve(res) }
        })
        s.on('end', () => { res.ended = true; resolve(res) })
        s.on('close', () => { resolve(res) })
      }))
    })
    const s4 = await tcpServer(h, s => {
      // paced: 64 KiB every 5 ms (~12 MiB/s) until stopped or the socket dies
      const chunks: Buffer[] = []
      const res: ServerSide = { received: Buffer.alloc(0), ended: false }
      s.on('data', () => {})
      const timer = setInterval(() => {
        if (stopStreaming || s.destroyed || s.writableEnded) { clearInterval(timer); return }
        if (s.writableNeedDrain) return
        const c = payload(64 * 1024)
        chunks.push(c)
        s.write(c)
      }, 5)
      stream.push(new Promise(resolve => {
        const done = (): void => { clearInterval(timer); res.sent = Buffer.concat(chunks); resolve(res) }
        s.on('end', () => { res.ended = true; done() })
        s.on('error', (err: NodeJS.ErrnoException) => { res.error ??= err; done() })
        s.on('close', done)
      }))
    })
    mesh = await startMesh(h, { services: { halfclose: s1.port, banner: s2.port, rst: s3.port, stream: s4.port } })
  }, { timeout: 60_000 })
  after(async () => { stopStreaming = true; await h.cleanup() })

  /** One `peerup proxy` per (path, service), started on demand. */
  const proxyCache = new Map<string, { proc: Proc, port: number }>()
  async function proxyFor (path: 'direct' | 'relay', service: string): Promise<number> {
    const key = `${path}/${service}`
    let p = proxyCache.get(key)
    if (p == null) {
      const port = await freePort()
      const proc = h.start(['--config', mesh.client.config, 'proxy', 'home.grewal', service, String(port), '--path', path])
      const m = await proc.waitFor(/proxy \S+ -> home.grewal \S+ \((.*)\)/)
      assert.match(m[1], path === 'relay' ? /^relayed via / : /^direct$/)
      p = { proc, port }
      proxyCache.set(key, p)
    }
    return p.port
  }

  for (const path of ['direct', 'relay'] as const) {
    it(`${path}: client sends a request and FIN, then receives a 16 MiB response byte-exact and a clean EOF`, { timeout: 150_000 }, async () => {
      const port = await proxyFor(path, 'halfclose')
      const request = payload(64 * 1024)
      const s = await dial(port)
      const { received, error } = await exchange(s, request, 60_000)
      assert.equal(error, undefined, `client saw an error: ${error?.message}`)
      const server = await halfClose.next(10_000)
      assert.equal(server.error, undefined)
      assert.equal(server.ended, true, 'service never saw the client FIN')
      assert.equal(server.received.length, request.length)
      assert.equal(sha256(server.received), sha256(request))
      assert.ok(server.sent != null)
      assert.equal(received.length, 16 * MiB)
      assert.equal(sha256(received), sha256(server.sent))
    })

    it(`${path}: service sends a banner and FIN at once; client gets banner + EOF and can still send 8 MiB`, { timeout: 150_000 }, async () => {
      const port = await proxyFor(path, 'banner')
      const data = payload(8 * MiB)
      const s = await dial(port)
      const o = observe(s)
      // a first slice, then wait for the banner and the service's FIN
      s.write(data.subarray(0, 1 * MiB))
      const first = await o.settled(20_000)
      assert.equal(first.first, 'end', `expected a clean EOF, got ${first.error?.code ?? first.error?.message}`)
      assert.equal(first.received.toString(), BANNER.toString())
      // the write side is still open: the rest travels after the EOF
      await writeAll(s, data.subarray(1 * MiB))
      s.end()
      const final = await o.closed(60_000)
      assert.equal(final.error, undefined, `client saw an error after EOF: ${final.error?.message}`)
      assert.equal(final.received.toString(), BANNER.toString())
      const server = await banner.next(20_000)
      assert.equal(server.error, undefined, `service saw an error: ${server.error?.message}`)
      assert.equal(server.ended, true)
      assert.equal(server.received.length, data.length)
      assert.equal(sha256(server.received), sha256(data))
    })

    it(`${path}: a RST from the service reaches the client as a reset, not an EOF`, { timeout: 150_000 }, async () => {
      const port = await proxyFor(path, 'rst')
      const s = await dial(port)
      const o = observe(s)
      s.write(payload(1 * MiB))
      const res = await o.settled(20_000)
      assert.equal(res.first, 'error', 'client saw a clean EOF instead of a reset')
      assert.equal(res.ended, false)
      assert.match(res.error?.code ?? '', RESET_CODES)
      const server = await rst.next(10_000)
      assert.equal(server.ended, false)
    })
  }

  // last: it kills the relay
  it('relay: relay killed mid-transfer resets both ends, never a truncated clean EOF', { timeout: 150_000 }, async () => {
    const port = await proxyFor('relay', 'stream')
    const s = await dial(port)
    const o = observe(s)
    s.write('GET /big\r\n') // no FIN: a live, long download
    const before = await o.atLeast(2 * MiB, 20_000)
    assert.equal(before.error, undefined)
    assert.equal(before.ended, false)
    mesh.relayProc.kill('SIGKILL')
    await withTimeout(mesh.relayProc.exited, 10_000, 'relay exit')
    const res = await o.settled(30_000)
    assert.equal(res.first, 'error', `client saw a clean EOF after ${res.received.length} bytes: truncation`)
    assert.equal(res.ended, false)
    assert.match(res.error?.code ?? '', RESET_CODES)
    const server = await stream.next(30_000)
    assert.equal(server.ended, false, 'service saw a clean EOF from a cut tunnel')
    assert.ok(server.error != null, 'service socket was not reset')
    assert.match(server.error.code ?? '', RESET_CODES)
    // what did arrive is an exact prefix of what the service sent
    assert.ok(server.sent != null && server.sent.length >= res.received.length)
    assert.ok(res.received.length >= 2 * MiB)
    assert.equal(sha256(res.received), sha256(server.sent.subarray(0, res.received.length)))
  })
})
