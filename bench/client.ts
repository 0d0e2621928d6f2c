/** The measuring client: bulk transfers, connect→first-byte latency, parallel tunnels. */
import { createHash, randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { pumpBytes } from './pump.js'


function open (port: number): Socket {
  return connect({ host: '127.0.0.1', port, allowHalfOpen: true })
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
export async function upload (port: number, bytes: number, idleMs: number): Promise<Transfer> {
  const t0 = performance.now()
  return await new Promise((resolve, reject) => {
    const s = open(port)
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
    s.once('connect', () => {
      s.write(header('U', bytes))
      pumpBytes(s, bytes, (n) => { sent = n; alive() })
    })
  })
}

/** Ask the bench service for `bytes` through `port` and read them until FIN. */
export async function download (port: number, bytes: number, idleMs: number): Promise<Transfer> {
  const t0 = performance.now()
  return await new Promise((resolve, reject) => {
    const s = open(port)
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
    s.once('connect', () => { s.end(header('D', bytes)) })
  })
}

/**
 * New connection to an echo service → first echoed byte, in ms (the
 * connection is then closed gracefully before resolving).
 */
export async function firstEcho (port: number, timeoutMs = 10_000): Promise<number> {
  const t0 = performance.now()
  return await new Promise((resolve, reject) => {
    const s = open(port)
    let t = -1
    const timer = setTimeout(() => { s.destroy(); reject(new Error('first echo byte timed out')) }, timeoutMs)
    s.on('error', err => { clearTimeout(timer); reject(err) })
    s.once('connect', () => { s.write('x') })
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
export async function parallelEcho (port: number, n: number, bytesEach: number, timeoutMs: number): Promise<ParallelResult> {
  const pool = randomBytes(bytesEach + n * 16)
  const t0 = performance.now()
  const errors: string[] = []
  const completions: number[] = []
  const one = async (i: number): Promise<void> => {
    const data = Buffer.from(pool.subarray(i * 16, i * 16 + bytesEach))
    data[0] = 0x45 // 'E': the bench service echoes
    const want = createHash('sha256').update(data).digest('hex')
    await new Promise<void>((resolve) => {
      const s = open(port)
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
      s.once('connect', () => { s.end(data) })
    })
  }
  await Promise.all(Array.from({ length: n }, async (_, i) => { await one(i) }))
  return { tunnels: n, intact: completions.length, failed: errors.length, completions, wallMs: performance.now() - t0, errors: errors.slice(0, 10) }
}
