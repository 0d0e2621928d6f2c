/**
 * Many tunnels over one peer connection, and the home daemon's graceful
 * shutdown: in-flight tunnels finish within the grace period; tunnels still
 * running when it expires are reset, never cut with a clean EOF.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { editYamlFile } from '../../src/index.js'
import { Harness, startMesh, echoServer, tcpServer, dial, exchange, payload, sha256, freePort, type Mesh, type Proc } from '../fixtures/mesh.js'
import { observe, ResultQueue, withTimeout, writeAll, type Observer } from '../fixtures/sockets.js'

const KiB = 1024
const MiB = 1024 * KiB
const RESET_CODES = /^(ECONNRESET|EPIPE)$/

async function startProxy (h: Harness, mesh: Mesh, service: string, path: 'auto' | 'direct' | 'relay'): Promise<{ proc: Proc, port: number }> {
  const port = await freePort()
  const proc = h.start(['--config', mesh.client.config, 'proxy', 'home.grewal', service, String(port), '--path', path])
  await proc.waitFor(/^ready$/m)
  return { proc, port }
}

function setGrace (seconds: number) {
  return ({ home }: { home: { config: string } }): void => {
    editYamlFile(home.config, doc => { doc.setIn(['daemon', 'shutdown_grace_seconds'], seconds) })
  }
}

const UP = 0x55 // 'U'
const DOWN = 0x44 // 'D'

/**
 * A two-phase transfer service. Header: mode byte + id byte.
 * - 'U' (upload): after 1 MiB it acks with 'A'; at EOF it replies with the
 *   sha256 hex of everything received, then FIN.
 * - 'D' (download): sends 1 MiB of a fresh 10 MiB payload at once; after the
 *   client sends 'G' and FIN, it sends the other 9 MiB, then FIN.
 */
function transferService (s: Socket, downloads: Map<number, Buffer>): void {
  const chunks: Buffer[] = []
  let size = 0
  let mode: number | undefined
  let down: Buffer | undefined
  let acked = false
  s.on('data', (d: Buffer) => {
    chunks.push(d)
    size += d.length
    if (mode == null && size >= 2) {
      const all = Buffer.concat(chunks)
      mode = all[0]
      chunks.length = 0
      chunks.push(all.subarray(2))
      size -= 2
      if (mode === DOWN) {
        down = payload(10 * MiB)
        downloads.set(all[1], down)
        s.write(down.subarray(0, 1 * MiB))
      }
    }
    if (mode === UP && !acked && size >= 1 * MiB) { acked = true; s.write('A') }
  })
  s.on('end', () => {
    const body = Buffer.concat(chunks)
    if (mode === UP) s.end(sha256(body))
    else if (mode === DOWN && down != null && body.toString() === 'G') writeAll(s, down.subarray(1 * MiB)).then(() => { s.end() }, () => { s.destroy() })
    else s.destroy()
  })
}

describe('parallel tunnels and graceful shutdown (grace 60 s)', () => {
  const h = new Harness()
  let mesh: Mesh
  let echo: { port: number, connections: () => number }
  const downloads = new Map<number, Buffer>()

  before(async () => {
    echo = await echoServer(h)
    const xfer = await tcpServer(h, s => { transferService(s, downloads) })
    mesh = await startMesh(h, { services: { echo: echo.port, xfer: xfer.port }, beforeStart: setGrace(60) })
  }, { timeout: 60_000 })
  after(async () => { await h.cleanup() })

  it('1000 parallel tunnels through one proxy process (one peer connection), 16 KiB each, all byte-exact', { timeout: 150_000 }, async () => {
    const N = 1000
    const { proc, port } = await startProxy(h, mesh, 'echo', 'auto')
    const before = echo.connections()
    const data = Array.from({ length: N }, () => payload(16 * KiB))
    const results = await withTimeout(Promise.all(data.map(async (d, i) => {
      try {
        const s = await dial(port)
        const r = await exchange(s, d, 120_000)
        return { i, ok: r.error == null && r.received.length === d.length && sha256(r.received) === sha256(d), why: r.error?.message ?? `${r.received.length} bytes` }
      } catch (err: any) {
        return { i, ok: false, why: `dial: ${err.message}` }
      }
    })), 150_000, `${N} parallel tunnels`)
    const bad = results.filter(r => !r.ok)
    const reasons = [...new Set(bad.map(b => b.why))].slice(0, 5).join('; ')
    assert.equal(bad.length, 0, `${bad.length}/${N} tunnels failed (${reasons}); proxy stderr: ${proc.stderr().slice(-2000)}`)
    assert.equal(echo.connections() - before, N)
    proc.kill('SIGTERM')
    assert.equal(await withTimeout(proc.exited, 10_000, 'proxy exit'), 0)
  })

  // last in this suite: it stops the home daemon
  it('SIGTERM with 20 in-flight 10 MiB transfers (relayed, 10 up + 10 down): all finish byte-exact, daemon exits 0', { timeout: 150_000 }, async () => {
    const N = 20
    const { proc, port } = await startProxy(h, mesh, 'xfer', 'relay')
    const up = Array.from({ length: N / 2 }, () => payload(10 * MiB))
    const socks: Socket[] = []
    const obs: Observer[] = []
    // every tunnel live and 1 MiB into its transfer before the signal
    for (let i = 0; i < N; i++) {
      const s = await dial(port)
      socks.push(s)
      obs.push(observe(s))
      if (i % 2 === 0) s.write(Buffer.concat([Buffer.from([UP, i]), up[i / 2].subarray(0, 1 * MiB)]))
      else s.write(Buffer.from([DOWN, i]))
    }
    const primed = await Promise.all(obs.map(async (o, i) => await o.atLeast(i % 2 === 0 ? 1 : 1 * MiB, 30_000)))
    primed.forEach((p, i) => {
      assert.equal(p.error, undefined, `tunnel ${i}: ${p.error?.message}`)
      assert.equal(p.ended, false, `tunnel ${i} ended early`)
    })
    const t0 = Date.now()
    mesh.homeProc.kill('SIGTERM')
    const m = await mesh.homeProc.waitFor(/daemon: stopping \(grace (\d+)s, (\d+) tunnels in flight\)/, 10_000)
    assert.equal(m[1], '60')
    assert.equal(Number(m[2]), N)
    // the other 9 MiB of each transfer travel after the SIGTERM
    const writes = await Promise.all(socks.map(async (s, i) => {
      try {
        if (i % 2 === 0) await writeAll(s, up[i / 2].subarray(1 * MiB))
        else s.write('G')
        s.end()
        return undefined
      } catch (err: any) {
        return err as Error
      }
    }))
    // diagnostics for a stall: after 30 s every process prints its live tunnels and circuits (SIGUSR2)
    const stallDump = setTimeout(() => {
      for (const p of [mesh.relayProc, mesh.homeProc, proc]) p.kill('SIGUSR2')
      setTimeout(() => {
        console.log('stall after SIGTERM; state dumps follow')
        console.log('RELAY', mesh.relayProc.stderr().slice(-6000))
        console.log('HOME', mesh.homeProc.stderr().slice(-6000))
        console.log('PROXY', proc.stderr().slice(-6000))
      }, 1000)
    }, 30_000)
    const done = await Promise.all(obs.map(async o => await o.closed(90_000))).finally(() => { clearTimeout(stallDump) })
    // context for a failure: a grace that expired under load looks different from a cut
    const ctx = `${Date.now() - t0} ms after SIGTERM; home: ${mesh.homeProc.stderr().slice(-500)}`
    done.forEach((r, i) => {
      assert.equal(writes[i], undefined, `tunnel ${i}: write failed: ${writes[i]?.message}; ${ctx}`)
      assert.equal(r.error, undefined, `tunnel ${i}: ${r.error?.message} after ${r.received.length} bytes; ${ctx}`)
      assert.equal(r.ended, true, `tunnel ${i}: no EOF`)
      if (i % 2 === 0) {
        // the service's sha256 of everything it received
        assert.equal(r.received.toString(), 'A' + sha256(up[i / 2]), `tunnel ${i}: upload not byte-exact`)
      } else {
        const sent = downloads.get(i)
        assert.ok(sent != null)
        assert.equal(r.received.length, sent.length, `tunnel ${i}: length`)
        assert.equal(sha256(r.received), sha256(sent), `tunnel ${i}: sha256`)
      }
    })
    assert.equal(await withTimeout(mesh.homeProc.exited, 60_000, 'home daemon exit'), 0)
    proc.kill('SIGTERM')
  })
})

describe('graceful shutdown with a 1 s grace', () => {
  const h = new Harness()
  let mesh: Mesh
  const seen = new ResultQueue<{ ended: boolean, error?: NodeJS.ErrnoException, received: number }>()

  before(async () => {
    // an echo service that reports how its connection ended
    const svc = await tcpServer(h, s => {
      seen.push(new Promise(resolve => {
        let n = 0
        let ended = false
        let error: NodeJS.ErrnoException | undefined
        s.on('data', (d: Buffer) => { n += d.length; s.write(d) })
        s.on('end', () => { ended = true; s.end() })
        s.on('error', (err: NodeJS.ErrnoException) => { error ??= err })
        s.on('close', () => { resolve({ ended, error, received: n }) })
      }))
    })
    mesh = await startMesh(h, { services: { echo: svc.port }, beforeStart: setGrace(1) })
  }, { timeout: 60_000 })
  after(async () => { await h.cleanup() })

  for (const path of ['direct', 'relay'] as const) {
    it(`${path}: a tunnel still open past the grace is reset at both ends, and the daemon exits 0`, { timeout: 150_000 }, async () => {
      if (mesh.homeProc.child.exitCode != null) await mesh.restartHome()
      const { proc, port } = await startProxy(h, mesh, 'echo', path)
      const s = await dial(port)
      const o = observe(s)
      const first = payload(64 * KiB)
      s.write(first)
      const echoed = await o.atLeast(first.length, 20_000)
      assert.equal(echoed.received.length, first.length)
      assert.equal(sha256(echoed.received), sha256(first))
      // stalled: no more data, no FIN
      mesh.homeProc.kill('SIGTERM')
      const m = await mesh.homeProc.waitFor(/daemon: stopping \(grace (\d+)s, (\d+) tunnels in flight\)/, 10_000)
      assert.equal(m[1], '1')
      assert.equal(Number(m[2]), 1)
      const res = await o.settled(30_000)
      assert.equal(res.first, 'error', 'client saw a clean EOF for a tunnel cut by shutdown')
      assert.equal(res.ended, false)
      assert.match(res.error?.code ?? '', RESET_CODES)
      const server = await seen.next(30_000)
      assert.equal(server.ended, false, 'service saw a clean EOF for a tunnel cut by shutdown')
      assert.ok(server.error != null, 'service socket was not reset')
      assert.match(server.error.code ?? '', RESET_CODES)
      assert.equal(await withTimeout(mesh.homeProc.exited, 15_000, 'home daemon exit'), 0)
      proc.kill('SIGTERM')
      await withTimeout(proc.exited, 10_000, 'proxy exit')
    })
  }
})
