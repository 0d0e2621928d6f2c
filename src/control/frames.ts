/**
 * The framing of a control-socket tunnel (`Upgrade: peerup-tunnel/1`).
 *
 * A unix socket has no RST: a closed socket looks the same whether the
 * remote service finished cleanly or reset. So the bytes travel in frames
 * that also carry the two end-of-stream events of a TCP tunnel:
 *
 * - `DATA`: payload bytes;
 * - `FIN`: this direction ended cleanly (half-close);
 * - `RST`: the tunnel was reset (payload: the reason, UTF-8).
 *
 * A frame is `type (u8) | length (u32 BE) | payload`. A socket that closes
 * before both FINs (or an RST) were seen is a reset.
 */

/** Frame types. */
export const FRAME = { DATA: 0, FIN: 1, RST: 2 } as const
/** Bytes of a frame header. */
export const FRAME_HEADER = 5
/** Largest payload accepted in one frame (a bad peer cannot make us buffer more). */
export const MAX_FRAME_PAYLOAD = 16 * 1024 * 1024

/** Encode one frame header; send the payload after it (no copy). */
export function frameHeader (type: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER)
  h[0] = type
  h.writeUInt32BE(length, 1)
  return h
}

/** Encode a whole frame (header and payload in one buffer). */
export function encodeFrame (type: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER + payload.byteLength)
  b[0] = type
  b.writeUInt32BE(payload.byteLength, 1)
  b.set(payload, FRAME_HEADER)
  return b
}

/** Handlers of a {@link frameDecoder}. */
export interface FrameHandlers {
  data: (payload: Buffer) => void
  fin: () => void
  rst: (reason: string) => void
  /** The peer sent something that is not a frame. */
  invalid: (why: string) => void
}

/** An incremental frame parser: feed it socket chunks in order. */
export function frameDecoder (on: FrameHandlers): (chunk: Buffer) => void {
  let pending: Buffer[] = []
  let have = 0
  let broken = false
  return (chunk: Buffer) => {
    if (broken) return
    if (have > 0) {
      pending.push(chunk)
      chunk = Buffer.concat(pending, have + chunk.byteLength)
      pending = []
      have = 0
    }
    let off = 0
    while (chunk.byteLength - off >= FRAME_HEADER) {
      const type = chunk[off]
      const len = chunk.readUInt32BE(off + 1)
      if (type > FRAME.RST || len > MAX_FRAME_PAYLOAD) {
        broken = true
        on.invalid(`bad frame (type ${type}, length ${len})`)
        return
      }
      if (chunk.byteLength - off - FRAME_HEADER < len) break
      const payload = chunk.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len)
      off += FRAME_HEADER + len
      if (type === FRAME.DATA) { if (len > 0) on.data(payload) } else if (type === FRAME.FIN) on.fin()
      else on.rst(payload.toString('utf8'))
    }
    if (off < chunk.byteLength) {
      const rest = chunk.subarray(off)
      pending = [rest]
      have = rest.byteLength
    }
  }
}
