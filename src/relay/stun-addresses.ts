/**
 * Which local addresses the relay's STUN responder binds. A UDP socket bound
 * to a wildcard (`0.0.0.0`, `::`) answers from the outgoing interface's
 * address, not from the address the request was sent to; on a multi-homed
 * relay (a VPS with a floating or reserved IP) the node's NAT then drops the
 * answer and hole punching fails. So the responder binds one socket per
 * local address, and each answer leaves from the address it was asked at.
 */
import { networkInterfaces } from 'node:os'
import { isIPv4, isIPv6 } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'

/** The shape of `os.networkInterfaces()`, for tests. */
export type InterfaceTable = NodeJS.Dict<Array<{ address: string, family: string | number, internal: boolean }>>

/** IPv6 link-local (fe80::/10): needs a scope ID, and no node reaches a relay by it. */
function isLinkLocal6 (ip: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(ip)
}

/**
 * Every local address of `family` that a remote node could send to: not
 * loopback (`internal`) and, for IPv6, not link-local.
 */
export function localAddresses (family: 4 | 6, interfaces: InterfaceTable = networkInterfaces()): string[] {
  const out = new Set<string>()
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) {
      const fam = a.family === 4 || a.family === 'IPv4' ? 4 : 6
      if (fam !== family || a.internal) continue
      if (fam === 6 && isLinkLocal6(a.address)) continue
      out.add(a.address)
    }
  }
  return [...out]
}

/**
 * The addresses the STUN responder binds when `relay.stun.host` is not set:
 * the relay's own TCP listen addresses, with a wildcard (`/ip4/0.0.0.0`,
 * `/ip6/::`) expanded into every local address of that family (loopback and
 * IPv6 link-local left out); a specific listen address, loopback included,
 * is taken as it is. So a relay that listens on 127.0.0.1 answers STUN on
 * 127.0.0.1 only, and one on 0.0.0.0 on each of its addresses.
 */
export function stunBindAddresses (listen: string[], interfaces: InterfaceTable = networkInterfaces()): string[] {
  const out = new Set<string>()
  for (const addr of listen) {
    let c: { name: string, value?: string } | undefined
    try { c = multiaddr(addr).getComponents()[0] } catch { continue }
    if (c?.value == null) continue
    if (c.name === 'ip4' && isIPv4(c.value)) {
      if (c.value === '0.0.0.0') for (const a of localAddresses(4, interfaces)) out.add(a)
      else out.add(c.value)
    } else if (c.name === 'ip6' && isIPv6(c.value)) {
      if (c.value === '::') for (const a of localAddresses(6, interfaces)) out.add(a)
      else out.add(c.value)
    }
  }
  return [...out]
}

/** Whether `host` is a wildcard address (answers leave from the outgoing interface's address). */
export function isWildcardHost (host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]'
}
