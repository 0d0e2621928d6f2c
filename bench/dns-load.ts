/**
 * DNS load generator, run as its own process so it does not share an event
 * loop with what it measures: `node dns-load.js <port> <name> <seconds>
 * <window>` keeps `window` A queries for `name` in flight against
 * 127.0.0.1:<port> (UDP) for `seconds` and prints one JSON line:
 * `{ sent, answered, errors, timeouts, qps, p50, p99 }` (latencies in ms).
 */
import { createSocket } from 'node:dgram'

const [portArg, name, secondsArg, windowArg] = process.argv.slice(2)
const port = Number(portArg)
const seconds = Number(secondsArg ?? 3)
const window = Number(windowArg ?? 32)
const TIMEOUT_MS = 1000

/** A minimal DNS query: header with RD, one question, type A, class IN. */
function query (id: number, qname: string): Buffer {
  const labels = qname.split('.').filter(Boolean).map(l => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]))
  const header = Buffer.alloc(12)
  header.writeUInt16BE(id, 0)
  header.writeUInt16BE(0x0100, 2)
  header.writeUInt16BE(1, 4)
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])])
}

const sock = createSocket('udp4')
const inflight = new Map<number, { t0: number, timer: NodeJS.Timeout }>()
const latencies: number[] = []
let sent = 0
let answered = 0
let errors = 0
let timeouts = 0
let nextId = 1
let stopping = false
const started = performance.now()
const deadline = started + seconds * 1000

function send (): void {
  if (stopping || performance.now() >= deadline) return
  let id = nextId
  nextId = (nextId % 65535) + 1
  while (inflight.has(id)) { id = nextId; nextId = (nextId % 65535) + 1 }
  const timer = setTimeout(() => { inflight.delete(id); timeouts++; send() }, TIMEOUT_MS)
  inflight.set(id, { t0: performance.now(), timer })
  sent++
  sock.send(query(id, name), port, '127.0.0.1')
}

sock.on('message', (msg) => {
  if (msg.length < 12) return
  const id = msg.readUInt16BE(0)
  const q = inflight.get(id)
  if (q == null) return
  clearTimeout(q.timer)
  inflight.delete(id)
  const rcode = msg[3] & 0x0f
  const ancount = msg.readUInt16BE(6)
  if (rcode === 0 && ancount > 0) { answered++; latencies.push(performance.now() - q.t0) } else errors++
  send()
})
sock.on('error', () => { errors++ })

sock.bind(0, '127.0.0.1', () => {
  for (let i = 0; i < window; i++) send()
  const check = setInterval(() => {
    if (performance.now() < deadline && inflight.size > 0) return
    if (inflight.size > 0 && performance.now() < deadline + TIMEOUT_MS) return
    clearInterval(check)
    stopping = true
    const wall = (Math.min(performance.now(), deadline) - started) / 1000
    latencies.sort((a, b) => a - b)
    const pct = (p: number): number => latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]
    const r = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d
    process.stdout.write(JSON.stringify({ sent, answered, errors, timeouts, qps: Math.round(answered / wall), p50: r(pct(0.5)), p99: r(pct(0.99)) }) + '\n')
    sock.close()
    process.exit(0)
  }, 20)
})
