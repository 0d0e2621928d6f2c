/**
 * Diagnostic preload: counts the chunk sizes at each layer of a tunnel
 * (socket reads and writes, message-stream `send()` and `onData()` per
 * layer class, yamux frames sent) and writes a summary to
 * `<PEERUP_FRAME_STATS_DIR>/<pid>.json` when the process exits.
 * Loaded with NODE_OPTIONS="--import <this file>"; it slows the process
 * down, so never measure throughput with it.
 */
import { writeFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { join } from 'node:path'
import { AbstractMessageStream } from '@libp2p/utils'

const dir = process.env.PEERUP_FRAME_STATS_DIR

interface Hist { count: number, bytes: number, buckets: Record<string, number> }
const stats: Record<string, Hist> = {}

function bucket (n: number): string {
  if (n <= 16) return '≤16'
  if (n <= 1024) return '≤1K'
  if (n <= 16 * 1024) return '≤16K'
  if (n <= 65536) return '≤64K'
  if (n <= 256 * 1024) return '≤256K'
  if (n <= 1024 * 1024) return '≤1M'
  return '>1M'
}

function record (key: string, n: number): void {
  const h = stats[key] ??= { count: 0, bytes: 0, buckets: {} }
  h.count++
  h.bytes += n
  const b = bucket(n)
  h.buckets[b] = (h.buckets[b] ?? 0) + 1
}

if (dir != null && dir !== '') {
  const sockKey = (s: Socket): string => `port ${Math.min(s.localPort ?? 0, s.remotePort ?? 0)}`
  const write = Socket.prototype.write
  Socket.prototype.write = function (this: Socket, chunk: any, ...rest: any[]) {
    if (chunk?.byteLength != null) record(`socket write (${sockKey(this)})`, chunk.byteLength)
    return (write as any).call(this, chunk, ...rest)
  } as any
  const push = (Socket.prototype as any).push
  ;(Socket.prototype as any).push = function (this: Socket, chunk: any, ...rest: any[]) {
    if (chunk?.byteLength != null) record(`socket read (${sockKey(this)})`, chunk.byteLength)
    return push.call(this, chunk, ...rest)
  }
  const proto = AbstractMessageStream.prototype as any
  const send = proto.send
  proto.send = function (data: any) {
    record(`send → ${this.constructor.name}`, data.byteLength)
    return send.call(this, data)
  }
  const onData = proto.onData
  proto.onData = function (data: any) {
    record(`onData ← ${this.constructor.name}`, data.byteLength)
    return onData.call(this, data)
  }
  process.on('exit', () => {
    const out = Object.fromEntries(Object.entries(stats)
      .filter(([, h]) => h.bytes > 1024 * 1024)
      .map(([k, h]) => [k, { ...h, avg: Math.round(h.bytes / h.count) }]))
    writeFileSync(join(dir, `${process.pid}-${process.argv.slice(2).filter(a => !a.includes('/')).slice(0, 2).join('-')}.json`), JSON.stringify(out, null, 1))
  })
}
