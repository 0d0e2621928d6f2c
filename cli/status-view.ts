/**
 * The human form of `peerup status`: the addresses grouped with the one to
 * give others first, peers by name with their path class, tunnels with
 * their bytes. A pure function of the status JSON, so a unit test can read
 * it without a daemon.
 */
import type { DaemonStatus } from '../src/control/index.js'

/** Kinds of own address, in the order `peerup status` lists them. */
export type AddressGroup = 'relay' | 'public' | 'lan' | 'webrtc' | 'loopback'

const GROUP_ORDER: AddressGroup[] = ['relay', 'public', 'lan', 'webrtc', 'loopback']

function ip4Group (ip: string): AddressGroup {
  const [a, b] = ip.split('.').map(Number)
  if (a === 127) return 'loopback'
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254)) return 'lan'
  return 'public'
}

/**
 * What kind of address this is: `relay` (a `/p2p-circuit` address: the one
 * that works from anywhere), `public` (a public IP or DNS name, e.g.
 * `network.announce`), `lan` (private ranges), `webrtc` (direct UDP,
 * signalled through the relay) or `loopback` (this machine only).
 */
export function addressGroup (addr: string): AddressGroup {
  if (/\/webrtc(\/|$)/.test(addr)) return 'webrtc'
  if (addr.includes('/p2p-circuit')) return 'relay'
  const m = /^\/(ip4|ip6|dns4|dns6|dns|dnsaddr)\/([^/]+)/.exec(addr)
  if (m == null) return 'public'
  const [, proto, host] = m
  if (proto === 'ip4') return ip4Group(host)
  if (proto === 'ip6') {
    const h = host.toLowerCase()
    if (h === '::1') return 'loopback'
    if (h.startsWith('::ffff:')) return ip4Group(h.slice(7))
    if (/^(fe[89ab]|f[cd])/.test(h)) return 'lan'
    return 'public'
  }
  return host.toLowerCase() === 'localhost' ? 'loopback' : 'public'
}

/** Bytes as `812 B`, `4.0 KiB`, `1.0 MiB`, `2.3 GiB`. */
export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(1)} ${units[i]}`
}

/** `host:port` of a multiaddr (`/ip4/203.0.113.7/tcp/7777/p2p/…` → `203.0.113.7:7777`), else the address. */
function hostPort (addr: string): string {
  const m = /^\/(?:ip4|ip6|dns4|dns6|dns)\/([^/]+)\/(?:tcp|udp)\/(\d+)/.exec(addr)
  if (m == null) return addr
  return m[1].includes(':') ? `[${m[1]}]:${m[2]}` : `${m[1]}:${m[2]}`
}

/** Rows as aligned columns (the last column is not padded). */
function columns (rows: string[][]): string[] {
  if (rows.length === 0) return []
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => (r[i] ?? '').length)))
  return rows.map(r => r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i])).join('  ').trimEnd())
}

/** The lines of the human `peerup status`. */
export function renderStatus (s: DaemonStatus): string[] {
  const lines: string[] = []
  const name = s.host != null && s.network != null ? ` ${s.host}.${s.network}` : ''
  lines.push(`peerup ${s.role}${name} ${s.peerId} (pid ${s.pid}, up ${s.uptimeSeconds}s, rss ${formatBytes(s.rssBytes)})`)
  lines.push(`control ${s.controlSocket}${s.metricsListen != null ? `  metrics http://${s.metricsListen}/metrics` : ''}`)
  lines.push(`bytes in ${formatBytes(s.bytes.in)}  out ${formatBytes(s.bytes.out)}  (tunnels: ${s.tunnels.length} open)`)
  if (s.gateways.socks != null || s.gateways.dns != null || s.gateways.tun != null) lines.push(`gateways socks ${s.gateways.socks ?? 'off'}  dns ${s.gateways.dns ?? 'off'}  tun ${s.gateways.tun ?? 'off'}  vip ${s.gateways.vip ?? '-'}`)

  lines.push('')
  const groups = new Map<AddressGroup, string[]>(GROUP_ORDER.map(g => [g, []]))
  for (const a of s.addresses) groups.get(addressGroup(a))!.push(a)
  const reachable = groups.get('relay')!.length > 0 ? 'give others the relay address; members reach you by name through it' : 'no relay address yet: peers outside this LAN cannot reach you'
  lines.push(`addresses (${reachable}):`)
  const rows: string[][] = []
  for (const g of ['relay', 'public', 'lan'] as const) for (const a of groups.get(g)!) rows.push([`  ${g}`, a])
  lines.push(...columns(rows))
  const webrtc = groups.get('webrtc')!.length
  const loopback = groups.get('loopback')!.length
  if (webrtc > 0) lines.push(`  + ${webrtc} direct-UDP (WebRTC) address${webrtc === 1 ? '' : 'es'}, signalled through the relay`)
  if (loopback > 0) lines.push(`  + ${loopback} loopback address${loopback === 1 ? '' : 'es'} (this machine only)`)
  if (webrtc + loopback > 0) lines.push('  (peerup status --json lists every address)')

  const relayLabel = (peerId: string | null): string => {
    if (peerId == null) return 'relay'
    const r = s.relays.find(x => x.peerId === peerId)
    return r != null ? hostPort(r.addr) : peerId
  }
  if (s.relays.length > 0) {
    lines.push('')
    lines.push(...columns([['RELAY', 'CONNECTED', 'RESERVED', 'LAST ERROR'], ...s.relays.map(r => [r.addr, String(r.connected), String(r.reserved), r.lastError ?? '-'])]))
  }

  lines.push('')
  if (s.peers.length === 0) lines.push('no peers connected')
  else {
    // a relay is the relay; a direct path needs no VIA, and its address says where the peer is
    const pathOf = (p: DaemonStatus['peers'][number]): string => p.class === 'relayed' ? `relayed via ${relayLabel(p.via)}` : p.class
    const addrOf = (p: DaemonStatus['peers'][number]): string => p.class === 'direct-tcp' ? p.remoteAddr.replace(/\/p2p\/[^/]+$/, '') : '-'
    const sorted = [...s.peers].sort((a, b) => Number(a.relay) - Number(b.relay) || Number(a.name == null) - Number(b.name == null) || (a.name ?? a.peerId).localeCompare(b.name ?? b.peerId))
    lines.push(...columns([['PEER', 'PEER ID', 'PATH', 'STREAMS', 'ADDRESS', 'COMMENT'],
      ...sorted.map(p => [p.relay ? `relay ${relayLabel(p.peerId)}` : (p.name ?? '-'), p.peerId, pathOf(p), String(p.streams), addrOf(p), p.comment ?? ''])]))
  }

  if (s.services.length > 0) {
    lines.push('')
    lines.push(...columns([['SERVICE', 'LOCAL ADDRESS', 'PROTOCOL'], ...s.services.map(v => [v.name, v.localAddress, v.protocol])]))
  }
  if (s.tun != null) {
    const st = s.tun.stats
    const dropped = Object.entries(st.dropped).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')
    lines.push('')
    lines.push(`tun ${s.tun.interface} ${s.tun.address}/16 mtu ${s.tun.mtu}: sent ${st.sentPackets} packets (${st.sentBytes} bytes), received ${st.receivedPackets} (${st.receivedBytes} bytes), dropped ${dropped !== '' ? dropped : 'none'}`)
    lines.push(...columns([['TUN PEER', 'ADDRESS', 'LINK'], ...s.tun.peers.map(p => [p.peerId, p.address, p.path ?? '-'])]))
  }

  lines.push('')
  if (s.tunnels.length === 0) lines.push('no tunnels open')
  else {
    const nameOf = (peerId: string): string => s.peers.find(p => p.peerId === peerId)?.name ?? peerId
    lines.push(...columns([['TUNNEL', 'BY', 'SERVICE', 'PEER', 'PATH', 'IN', 'OUT', 'SINCE'],
      ...s.tunnels.map(t => [t.direction, t.origin ?? '-', t.service, t.target ?? nameOf(t.peerId), t.class ?? t.path ?? '-', formatBytes(t.bytesIn), formatBytes(t.bytesOut), t.startedAt])]))
  }
  return lines
}
