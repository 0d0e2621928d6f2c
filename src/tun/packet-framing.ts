import { TunFrameError } from '../errors.js'

/**
 * The wire format of `/peerup/ip/1.0.0`: a sequence of frames, each a 2-byte
 * big-endian length followed by that many bytes of one IP packet. A length
 * of 0 is invalid. Packets are therefore at most 65535 bytes, the IPv4 limit.
 */

/** Bytes of the length prefix. */
export const FRAME_HEADER = 2
/** The largest packet a frame can carry. */
export const MAX_FRAME_PACKET = 0xffff

/** Encode packets as one buffer of frames. */
export function encodeFrames (packets: Uint8Array[]): Uint8Array {
  let size = 0
  for (const p of packets) {
    if (p.length === 0 || p.length > MAX_FRAME_PACKET) throw new TunFrameError(`cannot frame a packet of ${p.length} bytes`)
    size += FRAME_HEADER + p.length
  }
  const out = new Uint8Array(size)
  let o = 0
  for (const p of packets) {
    out[o] = p.length >> 8
    out[o + 1] = p.length & 0xff
    out.set(p, o + FRAME_HEADER)
    o += FRAME_HEADER + p.length
  }
  return out
}

/**
 * Walk the whole frames of `buf`: `fn(packet, start)` for each, with the
 * offset its frame starts at; the packet view is only valid during the
 * call. Returns the offset after the last whole frame (where an incomplete
 * one starts). The one frame walk: the decoder and TUN mode's batches use it.
 *
 * @throws {TunFrameError} on a zero or oversized length: the stream is corrupt
 */
export function walkFrames (buf: Uint8Array, fn: (packet: Uint8Array, start: number) => void, maxPacket = MAX_FRAME_PACKET): number {
  let o = 0
  while (buf.length - o >= FRAME_HEADER) {
    const len = (buf[o] << 8) | buf[o + 1]
    if (len === 0 || len > maxPacket) throw new TunFrameError(`bad frame length ${len} (max ${maxPacket})`)
    if (buf.length - o - FRAME_HEADER < len) break
    fn(buf.subarray(o + FRAME_HEADER, o + FRAME_HEADER + len), o)
    o += FRAME_HEADER + len
  }
  return o
}

/** A streaming decoder of frames: feed it chunks in any split. */
export interface FrameDecoder {
  /**
   * Feed a chunk; `onPacket` is called for every complete packet, in order.
   * The packet views are only valid during the callback (copy to keep).
   *
   * @throws {TunFrameError} on a zero or oversized length: the stream is corrupt
   */
  push: (chunk: Uint8Array) => void
  /** Bytes held of an incomplete frame. */
  readonly pending: number
}

/**
 * Create a frame decoder. `maxPacket` bounds the length accepted (a peer's
 * MTU may differ from ours, so the default is the frame limit).
 */
export function createFrameDecoder (onPacket: (packet: Uint8Array) => void, maxPacket = MAX_FRAME_PACKET): FrameDecoder {
  let held: Uint8Array = new Uint8Array(0)
  const decoder = {
    get pending () { return held.length },
    push (chunk: Uint8Array): void {
      let buf = chunk
      if (held.length > 0) {
        const joined = new Uint8Array(held.length + chunk.length)
        joined.set(held)
        joined.set(chunk, held.length)
        buf = joined
        held = new Uint8Array(0)
      }
      const o = walkFrames(buf, (packet) => { onPacket(packet) }, maxPacket)
      // copy the tail: the chunk's memory may be reused by the stream
      if (o < buf.length) held = buf.slice(o)
    }
  }
  return decoder
}
