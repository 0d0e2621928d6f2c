/**
 * The TUN reader thread. It waits for packets with `poll(2)` (100 ms at a
 * time, so it sees a stop request quickly), drains the non-blocking device
 * with `read(2)` and hands packets to the main thread in batches that are
 * already framed for the wire (2-byte length + packet, see
 * `packet-framing.ts`). Blocking here costs no event-loop time and no libuv
 * threadpool thread. A shared counter bounds the batches in flight: when the
 * main thread falls behind, this thread stops reading, the kernel's TUN
 * queue fills and drops, and TCP inside backs off, as on a real link.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { loadLibc } from './libc.js'

/** Data the reader thread is started with. */
export interface TunReaderData {
  fd: number
  /** Largest packet to read. */
  mtu: number
  /** Int32 control words: [0] stop flag, [1] batches in flight. */
  control: SharedArrayBuffer
  maxInflight: number
  batchBytes: number
}

const EAGAIN = 11
const EINTR = 4
const POLLIN = 1

function run (): void {
  const data = workerData as TunReaderData
  const port = parentPort!
  const libc = loadLibc()
  const ctl = new Int32Array(data.control)
  const pfd = new Uint8Array(8)
  new DataView(pfd.buffer).setInt32(0, data.fd, true)
  new DataView(pfd.buffer).setInt16(4, POLLIN, true)
  const need = 2 + data.mtu
  while (Atomics.load(ctl, 0) === 0) {
    const inflight = Atomics.load(ctl, 1)
    if (inflight >= data.maxInflight) {
      Atomics.wait(ctl, 1, inflight, 100)
      continue
    }
    const r = libc.poll(pfd, 1, 100)
    if (r < 0) {
      const e = libc.errno()
      if (e === EINTR) continue
      port.postMessage({ error: `poll failed: errno ${e}` })
      return
    }
    if (r === 0) continue
    const batch = new Uint8Array(Math.max(data.batchBytes, need))
    let o = 0
    while (batch.length - o >= need) {
      const n = libc.read(data.fd, batch.subarray(o + 2), data.mtu)
      if (n < 0) {
        const e = libc.errno()
        if (e === EAGAIN || e === EINTR) break
        port.postMessage({ error: `read failed: errno ${e}` })
        return
      }
      if (n === 0) break
      batch[o] = n >> 8
      batch[o + 1] = n & 0xff
      o += 2 + n
    }
    if (o > 0) {
      Atomics.add(ctl, 1, 1)
      port.postMessage({ buffer: batch.buffer, length: o }, [batch.buffer])
    }
  }
}

run()
