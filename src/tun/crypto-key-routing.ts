import { parseIpv4 } from './ip-packet.js'

/**
 * Crypto-key routing, as WireGuard does it: a peer's identity (its peer ID,
 * proven by the Noise handshake) is bound to exactly one mesh address. A
 * packet arriving from a peer is accepted only if its source is that
 * peer's address and its destination is ours; a packet leaving goes to the
 * peer that owns its destination, or nowhere.
 */

/** Why an inbound packet was dropped, or `accept`. */
export type InboundVerdict = 'accept' | 'malformed' | 'spoofedSource' | 'foreignDestination'

/**
 * Check a packet received from a peer whose mesh address is `peerAddress`,
 * on a node whose own mesh address is `ownAddress` (both unsigned 32-bit).
 * Only IPv4 is carried: anything else is `malformed`.
 */
export function checkInbound (packet: Uint8Array, peerAddress: number, ownAddress: number): InboundVerdict {
  const h = parseIpv4(packet)
  if (h == null) return 'malformed'
  if (h.src !== peerAddress) return 'spoofedSource'
  if (h.dst !== ownAddress) return 'foreignDestination'
  return 'accept'
}

/** Where an outbound packet goes. */
export type OutboundRoute =
  | { kind: 'peer', peerId: string, dst: number }
  | { kind: 'noRoute', dst: number, /** no ICMP error for broadcast or multicast */ silent: boolean }
  | { kind: 'malformed' }

/**
 * Route a packet read from the TUN device: `lookup` maps a destination
 * address to the peer that owns it (only peers allowed to use TUN mode are in
 * it).
 */
export function routeOutbound (packet: Uint8Array, lookup: (dst: number) => string | undefined, broadcast: number): OutboundRoute {
  const h = parseIpv4(packet)
  if (h == null) return { kind: 'malformed' }
  const peerId = lookup(h.dst)
  if (peerId != null) return { kind: 'peer', peerId, dst: h.dst }
  const multicast = h.dst >>> 28 === 0xe
  return { kind: 'noRoute', dst: h.dst, silent: multicast || h.dst === broadcast || h.dst === 0xffffffff }
}
