import { VIP_NETWORK, VIP_PREFIX_LENGTH } from '../constants.js'
import { ipv4ToInt } from './ipv4.js'
import type { Multiaddr } from '@multiformats/multiaddr'

const NETWORK = ipv4ToInt(VIP_NETWORK)
const MASK = (0xffffffff << (32 - VIP_PREFIX_LENGTH)) >>> 0

/**
 * Whether a multiaddr's IPv4 address lies in peerup's mesh range
 * (`10.64.0.0/16`, the virtual IPs and TUN addresses). peerup never announces
 * or dials such an address as a libp2p address: with TUN mode on, a
 * connection to a peer's TUN address would be carried by the mesh it is
 * meant to carry (a routing loop that stalls the link).
 */
export function isMeshAddress (ma: Multiaddr | string): boolean {
  const m = /^\/ip4\/([0-9.]+)(\/|$)/.exec(ma.toString())
  if (m == null) return false
  const n = ipv4ToInt(m[1])
  return !Number.isNaN(n) && ((n & MASK) >>> 0) === NETWORK
}
