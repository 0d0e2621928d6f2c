/** Dotted IPv4 addresses as unsigned 32-bit integers, shared by the virtual-IP table, TUN mode and the mesh-range guard. */

/** A dotted IPv4 address as an unsigned integer; NaN when malformed. */
export function ipv4ToInt (ip: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip)
  if (m == null) return NaN
  const parts = m.slice(1).map(Number)
  if (parts.some(p => p > 255)) return NaN
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0
}

/** An unsigned integer as a dotted IPv4 address. */
export function intToIpv4 (n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.')
}

/** The big-endian unsigned 32-bit value at `b[o]` (an address in a packet header). */
export function readU32 (b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0
}
