/**
 * A minimal RFC 5389 STUN responder: it answers Binding requests with the
 * sender's transport address (XOR-MAPPED-ADDRESS, plus MAPPED-ADDRESS for
 * RFC 3489 clients, and FINGERPRINT), so nodes behind NAT learn their public
 * UDP address from their own relay instead of a third party's STUN server.
 *
 * Each answer leaves from the address its request was sent to: one socket
 * per local address, never one on a wildcard, which would answer from the
 * outgoing interface's address (a NAT in front of the node drops that).
 *
 * No authentication, no TURN, no state per client beyond a token bucket per
 * source IP. Anything that is not a well-formed Binding request is dropped
 * silently (never answered, never thrown).
 */
import { createSocket } from 'node:dgram'
import { isIPv4 } from 'node:net'
import { crc32 } from 'node:zlib'
import { logger } from '@libp2p/logger'
import { STUN_PORT, STUN_RATE_BURST, STUN_RATE_PER_SECOND, STUN_RESCAN_INTERVAL } from '../constants.js'
import { bindUdp, closeUdp } from '../util/listen.js'
import { localAddresses } from './stun-addresses.js'
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
   * UDP port to listen on (0 picks one, then every address uses that one).
   *
   * @default 3478
   */
  port?: number
  /**
   * One address to bind. A wildcard (`0.0.0.0`, `::`) answers from the
   * outgoing interface's address, not from the address a request was sent
   * to: wrong on a host with several addresses. Ignored when `hosts` is set.
   */
  host?: string
  /**
   * The addresses to bind, one socket each, so every answer leaves from the
   * address its request arrived on. Called again every `rescanInterval` ms:
   * new addresses get a socket, vanished ones lose theirs.
   *
   * @default every local non-loopback address (see `localAddresses`), unless `host` is set
   */
  hosts?: () => string[]
  /**
   * How often `hosts` is called again (ms); 0 turns the re-scan off.
   *
   * @default 30000
   */
  rescanInterval?: number
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
  /** Bound UDP port (the same on every address). */
  readonly port: number
  /** The addresses answered on now. */
  addresses (): string[]
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
 * Start a STUN responder on UDP: one socket per address (see
 * {@link StunServerInit.hosts}), sharing one port, one rate limiter and one
 * set of counters. Rejects if no address can be bound; an address that
 * cannot be bound while others can is logged and tried again at the next
 * re-scan.
 */
export async function createStunServer (init: StunServerInit = {}): Promise<StunServer> {
  const hostsOf: () => string[] = init.hosts ?? (init.host != null ? () => [init.host!] : () => [...localAddresses(4), ...localAddresses(6)])
  const allow = rateLimiter(init.ratePerSecond ?? STUN_RATE_PER_SECOND, init.burst ?? STUN_RATE_BURST, init.now ?? Date.now)
  const stats: StunStats = { answered: 0, malformed: 0, limited: 0 }
  const sockets = new Map<string, Socket>()
  const failed = new Set<string>()
  let port = init.port ?? STUN_PORT
  let closed = false

  const onMessage = (socket: Socket) => (msg: Buffer, rinfo: { address: string, port: number }): void => {
    const req = parseBindingRequest(msg)
    if (req == null) { stats.malformed++; return }
    if (!allow(rinfo.address)) { stats.limited++; return }
    const ip = rinfo.address.startsWith('::ffff:') && isIPv4(rinfo.address.slice(7)) ? rinfo.address.slice(7) : rinfo.address
    socket.send(bindingResponse(req, ip, rinfo.port), rinfo.port, rinfo.address, (err) => {
      if (err != null) log('answering %s:%d failed: %s', rinfo.address, rinfo.port, err.message)
    })
    stats.answered++
  }
  const bindOne = async (host: string): Promise<void> => {
    const bare = host.replace(/^\[(.*)\]$/, '$1')
    const socket: Socket = createSocket({ type: bare.includes(':') ? 'udp6' : 'udp4' })
    socket.on('message', onMessage(socket))
    await bindUdp(socket, port, bare).catch((err) => { socket.close(); throw err })
    // a send error (ICMP unreachable surfaced on some kernels) must not kill the relay
    socket.on('error', (err) => { log.error('STUN socket %s error: %s', host, err.message) })
    port = socket.address().port
    sockets.set(host, socket)
  }
  const closeOne = async (host: string): Promise<void> => {
    const socket = sockets.get(host)
    sockets.delete(host)
    if (socket != null) await closeUdp(socket)
  }
  const sync = async (): Promise<Error | undefined> => {
    const wanted = [...new Set(hostsOf())]
    let firstError: Error | undefined
    for (const host of wanted) {
      if (sockets.has(host)) continue
      try {
        await bindOne(host)
        failed.delete(host)
        log('STUN responder on %s:%d', host, port)
      } catch (err: any) {
        firstError ??= new Error(`udp ${host}:${port}: ${String(err.message)}`)
        if (!failed.has(host)) log.error('STUN responder cannot listen on udp %s:%d: %s', host, port, err.message)
        failed.add(host)
      }
    }
    for (const host of [...sockets.keys()]) {
      if (!wanted.includes(host)) { log('address %s is gone: STUN no longer answers there', host); await closeOne(host) }
    }
    return sockets.size === 0 ? (firstError ?? new Error('no local address to answer on')) : undefined
  }

  const error = await sync()
  if (error != null) throw error
  const interval = init.rescanInterval ?? STUN_RESCAN_INTERVAL
  let busy = false
  // a fixed `host` never changes; an address list is read again to follow added and removed addresses
  const timer = (init.hosts != null || init.host == null) && interval > 0
    ? setInterval(() => {
      if (busy || closed) return
      busy = true
      sync().catch(() => {}).finally(() => { busy = false })
    }, interval)
    : undefined
  timer?.unref()
  return {
    port,
    addresses: () => [...sockets.keys()],
    stats: () => ({ ...stats }),
    close: async () => {
      closed = true
      clearInterval(timer)
      await Promise.all([...sockets.keys()].map(closeOne))
    }
  }
}
