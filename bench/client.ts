/** The measuring client: bulk transfers, connect→first-byte latency, parallel tunnels. */
import { createHash, randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { pumpBytes } from './pump.js'


/** Where the client connects: a loopback port, or a destination through a SOCKS5 proxy. */
export type Dest = number | { socks: number, host: string, port: number }

/**
 * A connected socket to `target` (after the SOCKS5 handshake for a proxy
 * target: no auth, CONNECT by domain name, RFC 1928).
 */
async function open (target: Dest, timeoutMs = 20_000): Promise<Socket> {
  const port = typeof target === 'number' ? target : target.socks
  const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true })
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`connect to ${JSON.stringify(target)} timed out`)) }, timeoutMs)
    const fail = (err: Error): void => { clearTimeout(timer); s.destroy(); reject(err) }
    s.once('error', fail)
    s.once('connect', () => {
      if (typeof target === 'number') { clearTimeout(timer); s.off('error', fail); resolve(s); return }
      const host = Buffer.from(target.host)
      s.write(Buffer.from([5, 1, 0]))
      s.write(Buffer.concat([Buffer.from([5, 1, 0, 3, host.length]), host, Buffer.from([target.port >> 8, target.port & 0xff])]))
      let buf = Buffer.alloc(0)
      const onData = (d: Buffer): void => {
        buf = Buffer.concat([buf, d])
        // method choice (2 bytes) + reply header (4) + bound address + port
        if (buf.length < 2 + 5) return
        if (buf[0] !== 5 || buf[1] !== 0) { fail(new Error(`SOCKS5 method refused: ${buf.subarray(0, 2).toString('hex')}`)); return }
        const r = buf.subarray(2)
        if (r[1] !== 0) { fail(new Error(`SOCKS5 CONNECT failed with reply ${r[1]}`)); return }
        const addrLen = r[3] === 1 ? 4 : r[3] === 4 ? 16 : 1 + r[4]
        const need = 2 + 4 + addrLen + 2
        if (buf.length < need) return
        s.off('data', onData)
        clearTimeout(timer)
        s.off('error', fail)
        if (buf.length > need) s.unshift(buf.subarray(need))
        resolve(s)
      }
      s.on('data', onData)
    })
  })
}

function header (mode: 'U' | 'D', n: number): Buffer {
  const b = Buffer.alloc(9)
  b.write(mode, 0, 'latin1')
  b.writeBigUInt64BE(BigInt(n), 1)
  return b
}

/** Result of one bulk transfer. */
export interface Transfer { bytes: number, seconds: number }

/**
 * Send `bytes` to the bench service's sink through `port` and wait for the
 * byte count it reports after our FIN. Rejects on a short count, or when
 * nothing moves for `idleMs`.
 */
export async function upload (target: Dest, bytes: number, idleMs: number): Promise<Transfer> {
  const t0 = performance.now()
  const s = await open(target)
  return await new Promise((resolve, reject) => {
    const reply: Buffer[] = []
    let sent = 0
    let timer: NodeJS.Timeout | undefined
    const fail = (err: Error): void => { clearTimeout(timer); s.destroy(); reject(err) }
    // a stall (no progress for idleMs) fails the transfer
    const alive = (): void => {
      clearTimeout(timer)
      timer = setTimeout(() => { fail(new Error(`upload stalled at ${sent} of ${bytes} B (no progress for ${idleMs} ms)`)) }, idleMs)
    }
    alive()
    s.on('error', err => { fail(err) })
    s.on('data', d => { alive(); reply.push(d) })
    s.on('end', () => {
      clearTimeout(timer)
      s.destroy()
      const r = Buffer.concat(reply)
      const got = r.length === 8 ? Number(r.readBigUInt64BE(0)) : -1
      if (got !== bytes) { reject(new Error(`upload: sink counted ${got} of ${bytes} B`)); return }
      resolve({ bytes, seconds: (performance.now() - t0) / 1000 })
    })
    s.write(header('U', bytes))
    pumpBytes(s, bytes, (n) => { sent = n; alive() })
  })
}

/** Ask the bench service for `bytes` through `port` and read them until FIN. */
export async function download (target: Dest, bytes: number, idleMs: number): Promise<Transfer> {
  const t0 = performance.now()
  const s = await open(target)
  return await new Promise((resolve, reject) => {
    let got = 0
    let timer: NodeJS.Timeout | undefined
    const alive = (): void => {
      clearTimeout(timer)
      timer = setTimeout(() => { s.destroy(); reject(new Error(`download stalled at ${got} of ${bytes} B (no progress for ${idleMs} ms)`)) }, idleMs)
    }
    alive()
    s.on('error', err => { clearTimeout(timer); reject(err) })
    s.on('data', d => { got += d.length; alive() })
    s.on('end', () => {
      clearTimeout(timer)
      s.destroy()
      if (got !== bytes) { reject(new Error(`download: received ${got} of ${bytes} B`)); return }
      resolve({ bytes, seconds: (performance.now() - t0) / 1000 })
    })
    s.end(header('D', bytes))
  })
}

/**
 * New connection to an echo service → first echoed byte, in ms (the
 * connection is then closed gracefully before resolving).
 */
export async function firstEcho (target: Dest, timeoutMs = 10_000): Promise<number> {
  const t0 = performance.now()
  const s = await open(target, timeoutMs)
  return await new Promise((resolve, reject) => {
    let t = -1
    const timer = setTimeout(() => { s.destroy(); reject(new Error('first echo byte timed out')) }, timeoutMs)
    s.on('error', err => { clearTimeout(timer); reject(err) })
    s.write('x')
    s.once('data', () => { t = performance.now() - t0; s.end() })
    s.on('data', () => {})
    s.on('close', () => {
      clearTimeout(timer)
      if (t < 0) reject(new Error('closed before the first echo byte'))
      else resolve(t)
    })
  })
}

/** Outcome of {@link parallelEcho}. */
export interface ParallelResult {
  tunnels: number
  intact: number
  failed: number
  /** Completion time of each intact tunnel since the common start, ms. */
  completions: number[]
  wallMs: number
  errors: string[]
}

/**
 * Open `n` connections to the bench service (echo mode) through `port` at once; each sends its own
 * `bytesEach` bytes, half-closes and must get exactly those bytes back
 * (sha256 compared).
 */
export async function parallelEcho (target: Dest, n: number, bytesEach: number, timeoutMs: number): Promise<ParallelResult> {
  const pool = randomBytes(bytesEach + n * 16)
  const t0 = performance.now()
  const errors: string[] = []
  const completions: number[] = []
  const one = async (i: number): Promise<void> => {
    const data = Buffer.from(pool.subarray(i * 16, i * 16 + bytesEach))
    data[0] = 0x45 // 'E': the bench service echoes
    const want = createHash('sha256').update(data).digest('hex')
    let s: Socket
    try {
      s = await open(target, timeoutMs)
    } catch (err) {
      errors.push(`#${i}: ${(err as Error).message}`)
      return
    }
    await new Promise<void>((resolve) => {
      const h = createHash('sha256')
      let got = 0
      let done = false
      const finish = (err?: string): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        s.destroy()
        if (err != null) errors.push(`#${i}: ${err}`)
        else completions.push(performance.now() - t0)
        resolve()
      }
      const timer = setTimeout(() => { finish(`timeout after ${got} B`) }, timeoutMs)
      s.on('error', err => { finish(err.message) })
      s.on('data', d => { got += d.length; h.update(d) })
      s.on('end', () => {
        if (got !== bytesEach) finish(`received ${got} of ${bytesEach} B`)
        else if (h.digest('hex') !== want) finish('content mismatch')
        else finish()
      })
      s.on('close', () => { finish(`closed after ${got} B`) })
      s.end(data)
    })
  }
  await Promise.all(Array.from({ length: n }, async (_, i) => { await one(i) }))
  return { tunnels: n, intact: completions.length, failed: errors.length, completions, wallMs: performance.now() - t0, errors: errors.slice(0, 10) }
}
