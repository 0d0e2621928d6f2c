/**
 * The far end of every benchmarked path, run as its own process so the
 * measuring client and the servers do not share an event loop.
 *
 * One port, the mode is chosen by the first byte a client sends:
 * - `U` + u64: upload — count bytes until EOF, reply with the u64 count;
 * - `D` + u64: download — send that many bytes, then FIN;
 * - anything else: echo everything (that byte included), half-close aware.
 *
 * Prints one JSON line `{"port":port}` when listening.
 */
import { createServer, type Socket } from 'node:net'
import { listenOn } from '../src/util/listen.js'
import { pumpBytes } from './pump.js'

function handleBench (s: Socket): void {
  let header = Buffer.alloc(0)
  let mode: 'U' | 'D' | undefined
  let count = 0
  s.on('error', () => {})
  const onData = (d: Buffer): void => {
    if (mode === 'U') { count += d.length; return }
    if (header.length === 0 && d.length > 0 && d[0] !== 0x55 && d[0] !== 0x44) {
      // echo mode
      s.off('data', onData)
      s.pipe(s)
      s.write(d)
      return
    }
    header = Buffer.concat([header, d])
    if (header.length < 9) return
    const m = String.fromCharCode(header[0])
    const n = Number(header.readBigUInt64BE(1))
    const rest = header.subarray(9)
    if (m === 'U') {
      mode = 'U'
      count = rest.length
    } else if (m === 'D') {
      mode = 'D'
      s.off('data', onData)
      s.resume()
      pumpBytes(s, n)
    } else {
      s.destroy()
    }
  }
  s.on('data', onData)
  s.on('end', () => {
    if (mode !== 'U') return
    const reply = Buffer.alloc(8)
    reply.writeBigUInt64BE(BigInt(count))
    s.end(reply)
  })
}

const bench = createServer({ allowHalfOpen: true }, handleBench)
await listenOn(bench, { port: 0, host: '127.0.0.1', backlog: 4096 })
process.stdout.write(JSON.stringify({ port: (bench.address() as any).port }) + '\n')
// exit with the parent
process.stdin.on('end', () => process.exit(0))
process.stdin.on('error', () => process.exit(0))
process.stdin.resume()
