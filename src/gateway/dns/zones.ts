import { LABEL_RE } from '../../config/schema.js'
import { DNS_RCODE, DNS_TYPE } from './message.js'
import type { DnsAnswer, DnsQuery, DnsRecord } from './message.js'
import type { VirtualIpTable } from '../virtual-ip.js'

/**
 * The DNS gateway's zones: which names are ours (the suffix zones such as
 * `p2p`, bare networks, the virtual-IP range's reverse zone) and the
 * authoritative answers in them (A, PTR, SOA, NXDOMAIN, NODATA).
 */

/** One zone we answer for. */
export interface Zone {
  /** Lower-case labels of the apex. */
  labels: string[]
  kind: 'suffix' | 'network' | 'reverse'
}

/** Init of {@link createZones}. */
export interface ZonesInit {
  /** Zones under which `<host>.<network>` names are answered, e.g. `['p2p']`. */
  suffixes: string[]
  /** Networks whose names are also answered without a suffix. */
  bareNetworks: string[]
  /** TTL of answers and negative answers (s). */
  ttl: number
}

/** What the zones need: the virtual-IP table and a mesh name lookup. */
export interface ZonesComponents {
  vips: VirtualIpTable
  /** The peer ID a mesh name (`host.network`) means, or null when it does not exist. */
  lookup: (name: string) => Promise<string | null>
}

/** Our zones, most specific first. */
export interface Zones {
  readonly list: readonly Zone[]
  /** The zone a lower-case query name falls in, or undefined when it is not ours. */
  zoneOf: (lower: string) => Zone | undefined
  /** The authoritative answer to a query in `zone`. */
  answer: (query: DnsQuery, zone: Zone) => Promise<DnsAnswer>
}

/**
 * A zone name as labels: lower case, without leading, trailing or empty
 * labels (`'.P2P.'` → `['p2p']`). The one normalisation every gateway uses.
 */
export function normaliseZone (zone: string): string[] {
  return zone.toLowerCase().replace(/^\.+|\.+$/g, '').split('.').filter(l => l !== '')
}

const OCTET_RE = /^(0|[1-9]\d{0,2})$/

function isOctet (label: string): boolean {
  return OCTET_RE.test(label) && Number(label) <= 255
}

/** Build the zones of a gateway whose virtual IPs are in `vips.cidr` (a /16). */
export function createZones (init: ZonesInit, components: ZonesComponents): Zones {
  const { ttl } = init
  const { vips, lookup } = components
  const octets = vips.cidr.split('/')[0].split('.')
  const list: Zone[] = [
    ...init.suffixes.map(z => ({ labels: normaliseZone(z), kind: 'suffix' as const })),
    ...init.bareNetworks.map(n => ({ labels: normaliseZone(n), kind: 'network' as const })),
    // the /16's reverse zone: 64.10.in-addr.arpa
    { labels: [octets[1], octets[0], 'in-addr', 'arpa'], kind: 'reverse' as const }
  ].filter(z => z.labels.length > 0)
  // longest apex first, so the most specific zone wins
  list.sort((a, b) => b.labels.length - a.labels.length)

  const zoneOf = (lower: string): Zone | undefined => {
    const labels = lower === '' ? [] : lower.split('.')
    return list.find(z => z.labels.length <= labels.length && z.labels.every((l, i) => labels[labels.length - z.labels.length + i] === l))
  }

  const soa = (zone: Zone): DnsRecord => {
    const apex = zone.labels.join('.')
    return {
      type: DNS_TYPE.SOA,
      name: apex,
      ttl,
      primary: apex,
      admin: `hostmaster.${apex}`,
      serial: 1,
      refresh: 3600,
      retry: 600,
      expiration: 86400,
      minimum: ttl
    }
  }

  /** The name PTR answers carry: `host.network.<first suffix>`. */
  const forwardName = (name: string): string => {
    const suffix = list.find(z => z.kind === 'suffix')
    return suffix != null ? `${name}.${suffix.labels.join('.')}` : name
  }

  const answer = async (query: DnsQuery, zone: Zone): Promise<DnsAnswer> => {
    const q = query.question
    const rel = q.lower === '' ? [] : q.lower.split('.').slice(0, -zone.labels.length)
    const owner = q.labels.join('.')
    const nodata: DnsAnswer = { rcode: DNS_RCODE.NOERROR, aa: true, authorities: [soa(zone)] }
    const nxdomain: DnsAnswer = { rcode: DNS_RCODE.NXDOMAIN, aa: true, authorities: [soa(zone)] }
    if (rel.length === 0) {
      if (q.type === DNS_TYPE.SOA || q.type === DNS_TYPE.ANY) return { rcode: DNS_RCODE.NOERROR, aa: true, answers: [{ ...soa(zone), name: owner }] }
      return nodata
    }

    if (zone.kind === 'reverse') {
      // <d>.<c>.64.10.in-addr.arpa → 10.64.c.d
      if (rel.length === 1) return isOctet(rel[0]) ? nodata : nxdomain
      if (rel.length > 2 || !rel.every(isOctet)) return nxdomain
      const base = zone.labels.slice(0, 2).reverse().join('.')
      const entry = vips.byIp(`${base}.${rel[1]}.${rel[0]}`)
      if (entry == null || entry.names.length === 0) return nxdomain
      if (q.type !== DNS_TYPE.PTR && q.type !== DNS_TYPE.ANY) return nodata
      return { rcode: DNS_RCODE.NOERROR, aa: true, answers: [{ type: DNS_TYPE.PTR, name: owner, ttl, domain: forwardName(entry.names[0]) }] }
    }

    let name: string
    if (zone.kind === 'network') {
      if (rel.length !== 1) return nxdomain
      name = `${rel[0]}.${zone.labels.join('.')}`
    } else {
      // <network>.p2p exists as a parent of its hosts
      if (rel.length === 1) return LABEL_RE.test(rel[0]) ? nodata : nxdomain
      if (rel.length !== 2) return nxdomain
      name = `${rel[0]}.${rel[1]}`
    }
    if (!name.split('.').every(l => LABEL_RE.test(l))) return nxdomain
    const peerId = await lookup(name)
    if (peerId == null) return nxdomain
    const ip = vips.assign(peerId, name)
    if (q.type !== DNS_TYPE.A && q.type !== DNS_TYPE.ANY) return nodata
    return { rcode: DNS_RCODE.NOERROR, aa: true, answers: [{ type: DNS_TYPE.A, name: owner, ttl, address: ip }] }
  }

  return { list, zoneOf, answer }
}
