import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Loopback addresses and who may use them. A node's `127.0.0.1` (or `::1`)
 * address is only meaningful on its own host: handed to a peer on another
 * host, it sends that peer's dialer to its *own* loopback (at best a wasted
 * dial, at worst a different local service that happens to use the port).
 *
 * The rule, one place for every tier:
 * - announce: a node that has any non-loopback address announces no loopback
 *   one; a node that listens on loopback only keeps them (only peers on its
 *   own host can reach it, and they need them);
 * - dial and resolve: a remote's loopback addresses are kept only when both
 *   ends are on one host as far as we can tell: every direct address it
 *   offers is loopback (so, by the announce rule, it listens on loopback
 *   only) and the relay that told us, or that we reach it through, is on our
 *   host too (its address is loopback). Addresses the user wrote in the names
 *   file are never filtered.
 * A relay, which sees both ends, keeps them only when the asking peer and the
 * named peer both reach it over loopback.
 */

/** Whether a multiaddr's host is loopback: `127.0.0.0/8`, `::1`, `::ffff:127.x`, or `localhost`. */
export function isLoopbackAddr (ma: Multiaddr | string): boolean {
  const m = /^\/(ip4|ip6|dns|dns4|dns6)\/([^/]+)/.exec(ma.toString())
  if (m == null) return false
  const [, proto, host] = m
  if (proto === 'ip4') return host.startsWith('127.')
  if (proto === 'ip6') return host === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(host) || /^::ffff:127\./i.test(host)
  return host.toLowerCase() === 'localhost' || host.toLowerCase().endsWith('.localhost')
}

/** Whether an address goes through a relay (its host is the relay's, not the node's). */
function isCircuit (ma: Multiaddr | string): boolean {
  return ma.toString().includes('/p2p-circuit')
}

/**
 * The addresses a node announces (identify, and so the relay's name
 * registry): loopback direct addresses are left out when the node has any
 * other direct address. Circuit addresses pass as they are.
 */
export function announceableAddrs<T extends Multiaddr | string> (addrs: T[]): T[] {
  const direct = addrs.filter(a => !isCircuit(a))
  if (direct.every(a => isLoopbackAddr(a))) return addrs
  return addrs.filter(a => isCircuit(a) || !isLoopbackAddr(a))
}

/** Options of {@link dialableRemoteAddrs}. */
export interface RemoteAddrsOptions {
  /** The relay these addresses came from, or that we reach the peer through, is on our host (loopback). */
  sameHostRelay: boolean
}

/**
 * A remote's addresses that are worth dialling or showing: its loopback
 * addresses only when both ends are on one host (see the module comment).
 * Returns the kept ones and the left-out ones (for a note to the user).
 */
export function dialableRemoteAddrs (addrs: string[], options: RemoteAddrsOptions): { addrs: string[], dropped: string[] } {
  const loopback = addrs.filter(a => !isCircuit(a) && isLoopbackAddr(a))
  if (loopback.length === 0) return { addrs, dropped: [] }
  const loopbackOnly = addrs.filter(a => !isCircuit(a)).every(a => isLoopbackAddr(a))
  if (loopbackOnly && options.sameHostRelay) return { addrs, dropped: [] }
  return { addrs: addrs.filter(a => !loopback.includes(a)), dropped: loopback }
}
