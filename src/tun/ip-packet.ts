/**
 * The little of IPv4 that TUN mode needs: read the header fields that route
 * and check a packet, and build the ICMP "destination unreachable" reply that
 * reports a peer we cannot reach (instead of black-holing its packets).
 */

import { readU32 } from '../network/ipv4.js'

export { intToIpv4, ipv4ToInt } from '../network/ipv4.js'

/** Header fields of an IPv4 packet. */
export interface Ipv4Header {
  /** Source address as an unsigned 32-bit integer. */
  src: number
  /** Destination address as an unsigned 32-bit integer. */
  dst: number
  /** IP protocol number (1 ICMP, 6 TCP, 17 UDP). */
  protocol: number
  /** Header length in bytes. */
  headerLength: number
  /** Total length from the header. */
  totalLength: number
}

/** IP protocol numbers. */
export const IP_PROTOCOL = { ICMP: 1, TCP: 6, UDP: 17 } as const

/** ICMP destination-unreachable codes used by TUN mode (RFC 792, RFC 1812). */
export const ICMP_UNREACHABLE = {
  /** No peer owns the address. */
  HOST: 1,
  /** The peer owns the address but does not run TUN mode, or refused us. */
  ADMIN_PROHIBITED: 13
} as const

/** The IP version of a packet (its first nibble), or 0 for an empty buffer. */
export function ipVersion (packet: Uint8Array): number {
  return packet.length > 0 ? packet[0] >> 4 : 0
}

/**
 * Parse the header of an IPv4 packet. Returns undefined for anything that is
 * not a well-formed IPv4 packet whose header and total length fit `packet`.
 */
export function parseIpv4 (packet: Uint8Array): Ipv4Header | undefined {
  if (packet.length < 20 || packet[0] >> 4 !== 4) return undefined
  const headerLength = (packet[0] & 0x0f) * 4
  if (headerLength < 20 || headerLength > packet.length) return undefined
  const totalLength = (packet[2] << 8) | packet[3]
  if (totalLength < headerLength || totalLength > packet.length) return undefined
  return {
    src: readU32(packet, 12),
    dst: readU32(packet, 16),
    protocol: packet[9],
    headerLength,
    totalLength
  }
}


function writeU32 (b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff
}

/** The Internet checksum (RFC 1071) of `b[start, end)`. */
export function internetChecksum (b: Uint8Array, start = 0, end = b.length): number {
  let sum = 0
  let i = start
  for (; i + 1 < end; i += 2) sum += (b[i] << 8) | b[i + 1]
  if (i < end) sum += b[i] << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return (~sum) & 0xffff
}

/**
 * Whether an address can be the source of a datagram that gets an ICMP
 * error: not 0.0.0.0/8, loopback, multicast, class E or broadcast.
 */
function isSingleHost (ip: number): boolean {
  const first = ip >>> 24
  return first !== 0 && first !== 127 && first < 224
}

/**
 * Build an ICMP destination-unreachable packet (type 3) from `from` back to
 * the sender of `original`, quoting its header and first 8 payload bytes as
 * RFC 792 asks. Returns undefined for packets that must never trigger an
 * ICMP error (ICMP errors themselves, non-initial fragments, sources that are
 * not a single host, non-IPv4, malformed).
 */
export function icmpUnreachable (original: Uint8Array, code: number, from: number): Uint8Array | undefined {
  const h = parseIpv4(original)
  if (h == null) return undefined
  // no ICMP error for a non-initial fragment, nor to a source that is not one host (RFC 1122 3.2.2):
  // a later fragment's payload does not start with the transport header either
  const fragmentOffset = ((original[6] & 0x1f) << 8) | original[7]
  if (fragmentOffset !== 0 || !isSingleHost(h.src)) return undefined
  // never answer an ICMP error with an ICMP error (RFC 1122 3.2.2)
  if (h.protocol === IP_PROTOCOL.ICMP && h.headerLength < original.length) {
    const type = original[h.headerLength]
    if (type !== 8 && type !== 13 && type !== 15 && type !== 17) return undefined
  }
  const quoted = original.subarray(0, Math.min(h.totalLength, h.headerLength + 8))
  const out = new Uint8Array(20 + 8 + quoted.length)
  out[0] = 0x45
  out[2] = out.length >> 8; out[3] = out.length & 0xff
  out[8] = 64
  out[9] = IP_PROTOCOL.ICMP
  writeU32(out, 12, from)
  writeU32(out, 16, h.src)
  const ipSum = internetChecksum(out, 0, 20)
  out[10] = ipSum >> 8; out[11] = ipSum & 0xff
  out[20] = 3
  out[21] = code
  out.set(quoted, 28)
  const icmpSum = internetChecksum(out, 20, out.length)
  out[22] = icmpSum >> 8; out[23] = icmpSum & 0xff
  return out
}

/** The STUN magic cookie (RFC 5389 §6). */
const STUN_MAGIC_COOKIE = 0x2112a442

/**
 * Whether an IPv4 packet is a UDP datagram carrying a STUN message (an ICE
 * connectivity check): first two bits zero, the magic cookie at offset 4, a
 * message length that fills the datagram. TUN mode drops these between mesh
 * addresses: the TUN interface is a host candidate to WebRTC's ICE agent, and
 * an ICE pair over the mesh would carry peerup's own direct UDP path over the
 * mesh it is meant to carry (a routing loop that stalls the link).
 */
export function isStunDatagram (packet: Uint8Array): boolean {
  // called for every packet: TCP (the bulk of the traffic) leaves before any parsing
  if (packet.length < 48 || packet[9] !== IP_PROTOCOL.UDP) return false
  const h = parseIpv4(packet)
  if (h == null || h.protocol !== IP_PROTOCOL.UDP) return false
  // fragments other than the first carry no UDP header
  if ((((packet[6] & 0x1f) << 8) | packet[7]) !== 0) return false
  const p = h.headerLength + 8
  if (h.totalLength < p + 20) return false
  const length = (packet[p + 2] << 8) | packet[p + 3]
  return (packet[p] & 0xc0) === 0 && readU32(packet, p + 4) === STUN_MAGIC_COOKIE && length % 4 === 0 && p + 20 + length === h.totalLength
}
