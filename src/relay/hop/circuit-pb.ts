/**
 * A minimal codec for the circuit relay v2 messages (HopMessage, StopMessage)
 * of https://github.com/libp2p/specs/blob/master/relay/circuit-v2.md. Only
 * the fields of the spec are read; unknown fields are skipped, malformed
 * input throws.
 */

/** HopMessage.Type */
export const HopType = { RESERVE: 0, CONNECT: 1, STATUS: 2 } as const
/** StopMessage.Type */
export const StopType = { CONNECT: 0, STATUS: 1 } as const
/** Status codes. */
export const Status = {
  OK: 100,
  RESERVATION_REFUSED: 200,
  RESOURCE_LIMIT_EXCEEDED: 201,
  PERMISSION_DENIED: 202,
  CONNECTION_FAILED: 203,
  NO_RESERVATION: 204,
  MALFORMED_MESSAGE: 400,
  UNEXPECTED_MESSAGE: 401
} as const

/** Peer info. */
export interface PbPeer { id: Uint8Array, addrs: Uint8Array[] }
/** Reservation info. */
export interface PbReservation { expire: bigint, addrs: Uint8Array[], voucher?: Uint8Array }
/** Circuit limit. */
export interface PbLimit { duration?: number, data?: bigint }
/** A HopMessage or StopMessage (which fields exist depends on the kind). */
export interface CircuitMessage {
  type?: number
  peer?: PbPeer
  reservation?: PbReservation
  limit?: PbLimit
  status?: number
}

class Writer {
  private readonly parts: Uint8Array[] = []
  varint (v: bigint | number): this {
    let n = BigInt(v)
    const out: number[] = []
    do {
      let b = Number(n & 0x7fn)
      n >>= 7n
      if (n > 0n) b |= 0x80
      out.push(b)
    } while (n > 0n)
    this.parts.push(Uint8Array.from(out))
    return this
  }

  tag (field: number, wire: number): this { return this.varint((field << 3) | wire) }
  bytes (field: number, b: Uint8Array): this { this.tag(field, 2).varint(b.byteLength); this.parts.push(b); return this }
  uint (field: number, v: bigint | number): this { return this.tag(field, 0).varint(v) }
  finish (): Uint8Array {
    const len = this.parts.reduce((a, p) => a + p.byteLength, 0)
    const out = new Uint8Array(len)
    let o = 0
    for (const p of this.parts) { out.set(p, o); o += p.byteLength }
    return out
  }
}

class Reader {
  pos = 0
  constructor (private readonly buf: Uint8Array) {}
  get done (): boolean { return this.pos >= this.buf.byteLength }
  varint (): bigint {
    let result = 0n
    let shift = 0n
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.byteLength) throw new Error('truncated varint')
      const b = this.buf[this.pos++]
      result |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return result
      shift += 7n
    }
    throw new Error('varint too long')
  }

  bytes (): Uint8Array {
    const len = Number(this.varint())
    if (len > this.buf.byteLength - this.pos) throw new Error('truncated field')
    const b = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    return b
  }

  skip (wire: number): void {
    if (wire === 0) this.varint()
    else if (wire === 2) this.bytes()
    else if (wire === 1) this.pos += 8
    else if (wire === 5) this.pos += 4
    else throw new Error(`unsupported wire type ${wire}`)
    if (this.pos > this.buf.byteLength) throw new Error('truncated field')
  }
}

function encodePeer (p: PbPeer): Uint8Array {
  const w = new Writer().bytes(1, p.id)
  for (const a of p.addrs) w.bytes(2, a)
  return w.finish()
}

function decodePeer (b: Uint8Array): PbPeer {
  const r = new Reader(b)
  const peer: PbPeer = { id: new Uint8Array(0), addrs: [] }
  while (!r.done) {
    const t = Number(r.varint())
    if (t >> 3 === 1 && (t & 7) === 2) peer.id = r.bytes()
    else if (t >> 3 === 2 && (t & 7) === 2) peer.addrs.push(r.bytes())
    else r.skip(t & 7)
  }
  return peer
}

function encodeLimit (l: PbLimit): Uint8Array {
  const w = new Writer()
  if (l.duration != null) w.uint(1, l.duration)
  if (l.data != null) w.uint(2, l.data)
  return w.finish()
}

function decodeLimit (b: Uint8Array): PbLimit {
  const r = new Reader(b)
  const l: PbLimit = {}
  while (!r.done) {
    const t = Number(r.varint())
    if (t >> 3 === 1 && (t & 7) === 0) l.duration = Number(r.varint())
    else if (t >> 3 === 2 && (t & 7) === 0) l.data = r.varint()
    else r.skip(t & 7)
  }
  return l
}

function encodeReservation (res: PbReservation): Uint8Array {
  const w = new Writer().uint(1, res.expire)
  for (const a of res.addrs) w.bytes(2, a)
  if (res.voucher != null) w.bytes(3, res.voucher)
  return w.finish()
}

/**
 * Field numbers differ between HopMessage (type 1, peer 2, reservation 3,
 * limit 4, status 5) and StopMessage (type 1, peer 2, limit 3, status 4).
 */
const FIELDS = {
  hop: { type: 1, peer: 2, reservation: 3, limit: 4, status: 5 },
  stop: { type: 1, peer: 2, reservation: -1, limit: 3, status: 4 }
}

/** Encode a message (without the length prefix). */
export function encodeMessage (kind: 'hop' | 'stop', m: CircuitMessage): Uint8Array {
  const f = FIELDS[kind]
  const w = new Writer()
  if (m.type != null) w.uint(f.type, m.type)
  if (m.peer != null) w.bytes(f.peer, encodePeer(m.peer))
  if (m.reservation != null && kind === 'hop') w.bytes(f.reservation, encodeReservation(m.reservation))
  if (m.limit != null) w.bytes(f.limit, encodeLimit(m.limit))
  if (m.status != null) w.uint(f.status, m.status)
  return w.finish()
}

/** Decode a message (without the length prefix). */
export function decodeMessage (kind: 'hop' | 'stop', b: Uint8Array): CircuitMessage {
  const f = FIELDS[kind]
  const r = new Reader(b)
  const m: CircuitMessage = {}
  while (!r.done) {
    const t = Number(r.varint())
    const field = t >> 3
    const wire = t & 7
    if (field === f.type && wire === 0) m.type = Number(r.varint())
    else if (field === f.peer && wire === 2) m.peer = decodePeer(r.bytes())
    else if (field === f.limit && wire === 2) m.limit = decodeLimit(r.bytes())
    else if (field === f.status && wire === 0) m.status = Number(r.varint())
    else r.skip(wire)
  }
  return m
}

/** Prefix a message with its unsigned-varint length. */
export function lengthPrefixed (body: Uint8Array): Uint8Array {
  const len = new Writer().varint(body.byteLength).finish()
  const out = new Uint8Array(len.byteLength + body.byteLength)
  out.set(len, 0)
  out.set(body, len.byteLength)
  return out
}

/** Try to take one length-prefixed message off the front of `buf`. */
export function takeLengthPrefixed (buf: Uint8Array, max: number): { message: Uint8Array, rest: Uint8Array } | undefined {
  let len = 0
  let shift = 0
  for (let i = 0; i < 5; i++) {
    if (i >= buf.byteLength) return undefined
    const b = buf[i]
    len |= (b & 0x7f) << shift
    if ((b & 0x80) === 0) {
      if (len > max) throw new Error(`message of ${len} bytes exceeds ${max}`)
      const start = i + 1
      if (buf.byteLength < start + len) return undefined
      return { message: buf.subarray(start, start + len), rest: buf.subarray(start + len) }
    }
    shift += 7
  }
  throw new Error('length prefix too long')
}
