/** Bulk writer shared by the bench client and the bench service. */
import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'

const BLOCK = randomBytes(1024 * 1024)
const CHUNK = 256 * 1024

/**
 * Write `total` bytes (a repeating random block) to `s` with backpressure,
 * then FIN. `onWrite` is called before each burst, with the bytes sent so far.
 */
export function pumpBytes (s: Socket, total: number, onWrite?: (sent: number) => void): void {
  let sent = 0
  let off = 0
  const pump = (): void => {
    onWrite?.(sent)
    while (sent < total) {
      const n = Math.min(CHUNK, total - sent, BLOCK.length - off)
      const chunk = BLOCK.subarray(off, off + n)
      sent += n
      off = (off + n) % BLOCK.length
      if (!s.write(chunk)) { s.once('drain', pump); return }
    }
    s.end()
  }
  pump()
}
