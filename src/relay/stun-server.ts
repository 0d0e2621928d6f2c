/**
 * A minimal RFC 5389 STUN responder: it answers Binding requests with the
 * sender's transport address (XOR-MAPPED-ADDRESS, plus MAPPED-ADDRESS for
 * RFC 3489 clients, and FINGERPRINT), so nodes behind NAT learn their public
 * UDP address from their own relay instead of a third party's STUN server.
 *
 * No authentication, no TURN, no state per client beyond a token bucket per
 * source IP. Anything that is not a well-formed Binding request is dropped
 * silently (never answered, never thrown).
 */
import { createSocket } from 'node:dgram'
import { isIPv4 } from 'node:net'
import { crc32 } from 'node:zlib'
import { logger } from '@libp2p/logger'
import { STUN_PORT, STUN_RATE_BURST, STUN_RATE_PER_SECOND } from '../constants.js'
import type { Socket } from 'node:dgram'

const log = logger('peerup:stun')

/** The magic cookie of RFC 5389 messages. */
export const STUN_MAGIC_COOKIE = 0x2112A442
const HEADER = 20
const BINDING_REQUEST = 0x0001
const BINDING_SUCCESS = 0x0101
const ATTR_MAPPED_ADDRESS = 0x0001
const ATTR_XOR_MAPPED_ADDRESS = 0x0020
const ATTR_SOFTWARE = 0x8022
const ATTR_FINGERPRINT = 0x8028
const FINGERPRINT_XOR = 0x5354554e
const SOFTWARE = Buffer.from('peerup')

/** A parsed STUN Binding request: only what the answer needs. */
export interface BindingRequest {
  /** The 96-bit transaction ID. */
  transactionId: Buffer
}

/**
 * Parse a datagram as a STUN Binding request (RFC 5389 §6): the two top bits
 * zero, the magic cookie, a length that matches the datagram and is a
 * multiple of 4, and well-formed attribute TLVs. Returns `undefined` for
 * anything else (including other STUN methods and classes).
 */
export function parseBindingRequest (msg: Uint8Array): BindingRequest | undefined {
  if (msg.byteLength < HEADER) return undefined
  const b = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength)
  const type = b.readUInt16BE(0)
  const length = b.readUInt16BE(2)
  if ((type & 0xC000) !== 0) return undefined
  if (type !== BINDING_REQUEST) return undefined
  if (b.readUInt32BE(4) !== STUN_MAGIC_COOKIE) return undefined
  if (length % 4 !== 0 || HEADER + length !== b.byteLength) return undefined
  // attributes must tile the body exactly
  let off = HEADER
  while (off < b.byteLength) {
    if (off + 4 > b.byteLength) return undefined
    const attrLen = b.readUInt16BE(off + 2)
    off += 4 + attrLen + ((4 - (attrLen % 4)) % 4)
  }
  if (off !== b.byteLength) return undefined
  return { transactionId: Buffer.from(b.subarray(8, 20)) }
}

function attr (type: number, value: Buffer): Buffer {
  const pad = (4 - (value.byteLength % 4)) % 4
  const out = Buffer.alloc(4 + value.byteLength + pad)
  out.writeUInt16BE(type, 0)
  out.writeUInt16BE(value.byteLength, 2)
  value.copy(out, 4)
  return out
}

function addressValue (ip: string, port: number, xor?: Buffer): Buffer {
  const v4 = isIPv4(ip)
  const addr = v4 ? Buffer.from(ip.split('.').map(Number)) : ipv6Bytes(ip)
  const out = Buffer.alloc(4 + addr.byteLength)
  out.writeUInt8(v4 ? 0x01 : 0x02, 1)
  if (xor == null) {
    out.writeUInt16BE(port, 2)
    addr.copy(out, 4)
  } else {
    // xor: the magic cookie followed by the transaction ID (RFC 5389 §15.2)
    out.writeUInt16BE(port ^ (STUN_MAGIC_COOKIE >>> 16), 2)
    for (let i = 0; i < addr.byteLength; i++) out[4 + i] = addr[i] ^ xor[i]
  }
  return out
}

function ipv6Bytes (ip: string): Buffer {
  const [head, tail] = ip.split('::')
  const parse = (s: string | undefined): number[] => (s == null || s === '') ? [] : s.split(':').flatMap(p => {
    if (p.includes('.')) { const v = p.split('.').map(Number); return [(v[0] << 8) | v[1], (v[2] << 8) | v[3]] }
    return [parseInt(p, 16)]
  })
  const h = parse(head)
  const t = parse(tail)
  const words = tail == null ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t]
  const out = Buffer.alloc(16)
  words.forEach((w, i) => out.writeUInt16BE(w & 0xffff, i * 2))
  return out
}

/** Encode the Binding success response telling the requester its address. */
export function bindingResponse (req: BindingRequest, ip: string, port: number): Buffer {
  const cookie = Buffer.alloc(4)
  cookie.writeUInt32BE(STUN_MAGIC_COOKIE)
  const xorKey = Buffer.concat([cookie, req.transactionId])
  const body = Buffer.concat([
    attr(ATTR_XOR_MAPPED_ADDRESS, addressValue(ip, port, xorKey)),
    attr(ATTR_MAPPED_ADDRESS, addressValue(ip, port)),
    attr(ATTR_SOFTWARE, SOFTWARE)
  ])
  const header = Buffer.alloc(HEADER)
  header.writeUInt16BE(BINDING_SUCCESS, 0)
  header.writeUInt16BE(body.byteLength + 8, 2)
  header.writeUInt32BE(STUN_MAGIC_COOKIE, 4)
  req.transactionId.copy(header, 8)
  const unsigned = Buffer.concat([header, body])
  const fp = Buffer.alloc(4)
  fp.writeUInt32BE((crc32(unsigned) ^ FINGERPRINT_XOR) >>> 0)
  return Buffer.concat([unsigned, attr(ATTR_FINGERPRINT, fp)])
}

/** Init of {@link createStunServer}. */
export interface StunServerInit {
  /**
   * UDP port to listen on (0 picks one).
   *
   * @default 3478
   */
  port?: number
  /**
   * Address to bind.
   *
   * @default '0.0.0.0'
   */
  host?: string
  /**
   * Binding requests answered per second per source IP (token bucket refill).
   *
   * @default 20
   */
  ratePerSecond?: number
  /**
   * Token bucket size per source IP (a burst of requests answered at once).
   *
   * @default 40
   */
  burst?: number
  /** Clock, for tests. @default Date.now */
  now?: () => number
}

/** Counters of a STUN server. */
export interface StunStats {
  /** Binding requests answered. */
  answered: number
  /** Datagrams dropped as malformed or not a Binding request. */
  malformed: number
  /** Requests dropped by the per-source rate limit. */
  limited: number
}

/** A running STUN responder. */
export interface StunServer {
  /** Bound UDP port. */
  readonly port: number
  stats (): StunStats
  close (): Promise<void>
}

/** Token buckets per source IP, swept so an address scan cannot grow the map without bound. */
function rateLimiter (rate: number, burst: number, now: () => number): (ip: string) => boolean {
  const buckets = new Map<string, { tokens: number, at: number }>()
  const MAX_TRACKED = 65_536
  return (ip) => {
    const t = now()
    let b = buckets.get(ip)
    if (b == null) {
      if (buckets.size >= MAX_TRACKED) {
        // drop buckets that have refilled: they carry no state worth keeping
        for (const [k, v] of buckets) if (v.tokens + (t - v.at) * rate / 1000 >= burst) buckets.delete(k)
        if (buckets.size >= MAX_TRACKED) return false
      }
      b = { tokens: burst, at: t }
      buckets.set(ip, b)
    }
    b.tokens = Math.min(burst, b.tokens + (t - b.at) * rate / 1000)
    b.at = t
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }
}

/**
 * Start a STUN responder on UDP (IPv4, or dual-stack when `host` is `::`).
 * Rejects if the port cannot be bound.
 */
export async function createStunServer (init: StunServerInit = {}): Promise<StunServer> {
  const host = init.host ?? '0.0.0.0'
  const socket: Socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' })
  const allow = rateLimiter(init.ratePerSecond ?? STUN_RATE_PER_SECOND, init.burst ?? STUN_RATE_BURST, init.now ?? Date.now)
  const stats: StunStats = { answered: 0, malformed: 0, limited: 0 }
  socket.on('message', (msg, rinfo) => {
    const req = parseBindingRequest(msg)
    if (req == null) { stats.malformed++; return }
    if (!allow(rinfo.address)) { stats.limited++; return }
    const ip = rinfo.address.startsWith('::ffff:') && isIPv4(rinfo.address.slice(7)) ? rinfo.address.slice(7) : rinfo.address
    socket.send(bindingResponse(req, ip, rinfo.port), rinfo.port, rinfo.address, (err) => {
      if (err != null) log('answering %s:%d failed: %s', rinfo.address, rinfo.port, err.message)
    })
    stats.answered++
  })
  // a send error (ICMP unreachable surfaced on some kernels) must not kill the relay
  socket.on('error', (err) => { log.error('STUN socket error: %s', err.message) })
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(init.port ?? STUN_PORT, host, () => { socket.off('error', reject); resolve() })
  })
  const port = socket.address().port
  log('STUN responder on %s:%d', host, port)
  return {
    port,
    stats: () => ({ ...stats }),
    close: async () => { await new Promise<void>(resolve => { socket.close(() => { resolve() }) }) }
  }
}
