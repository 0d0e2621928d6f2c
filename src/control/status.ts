/**
 * What `GET /v1/status` and `GET /metrics` report: one snapshot of a running
 * node, built from its libp2p node, its service registry, its reservation
 * watchdog and its counters.
 */
import { pathOf, pathRank } from '../paths/dialer.js'
import { renderPrometheus } from '../metrics/node-metrics.js'
import { peerLabels } from './peer-labels.js'
import type { OutboundTunnel, TunnelOrigin } from '../tunnels/outbound-tunnels.js'
import type { TunMode, TunPeer, TunStats } from '../tun/tun-mode.js'
import type { LoadedConfig } from '../config/load.js'
import type { PeerupNode } from '../node/node.js'
import type { MetricFamily, TunnelDirection } from '../metrics/node-metrics.js'
import type { Connection } from '@libp2p/interface'

/** One live tunnel in {@link DaemonStatus}. */
export interface TunnelStatus {
  direction: TunnelDirection
  /** The service (inbound: ours; outbound: the remote's, as asked). */
  service: string
  /** The remote peer. */
  peerId: string
  /** Outbound: the target as the client named it. */
  target?: string
  /** Outbound: the path the tunnel took. */
  path?: 'direct' | 'relayed'
  /** Outbound: the path class (`direct-tcp`, `direct-udp`, `relayed`). */
  class?: 'direct-tcp' | 'direct-udp' | 'relayed'
  /** Outbound: what opened it (`nc`, `proxy`, `socks`, `api`). */
  origin?: TunnelOrigin
  startedAt: string
  /** Bytes received from the mesh. */
  bytesIn: number
  /** Bytes sent into the mesh. */
  bytesOut: number
}

export type { OutboundTunnel } from '../tunnels/outbound-tunnels.js'

/** A connected peer in {@link DaemonStatus}. */
export interface PeerStatus {
  peerId: string
  /** One of our relays. */
  relay: boolean
  /** `direct` or `relayed` (kept for compatibility; see `class`). */
  path: 'direct' | 'relayed'
  /** The best open connection's class, as `peerup ping --json` names it: `direct-tcp`, `direct-udp` or `relayed`. */
  class: 'direct-tcp' | 'direct-udp' | 'relayed'
  /** The relay of a relayed connection (and the signalling relay of a direct UDP one we dialled). */
  via: string | null
  remoteAddr: string
  connections: number
  streams: number
  /** The peer's name, from names.yaml or the relay's answers, when known. */
  name: string | null
  /** The comment on the peer's line in our authorized_keys, when there is one. */
  comment: string | null
}

/** Gateways of the daemon, when it runs them. */
export interface GatewayStatus {
  socks: string | null
  dns: string | null
  /** TUN mode: `<interface> <address>/16`, or null when off. */
  tun: string | null
  vip: string | null
}

/** TUN mode in the status: the interface, its counters and its peers. */
export interface TunStatus {
  interface: string
  address: string
  mtu: number
  stats: TunStats
  peers: TunPeer[]
}

/** The JSON of `GET /v1/status` (`peerup status --json`). */
export interface DaemonStatus {
  peerId: string
  role: string
  network: string | null
  host: string | null
  pid: number
  uptimeSeconds: number
  /** This node's listen and relay (`/p2p-circuit`) addresses. */
  addresses: string[]
  relays: Array<{ addr: string, peerId: string | null, connected: boolean, reserved: boolean, lastError: string | null, attempts: number }>
  peers: PeerStatus[]
  services: Array<{ name: string, localAddress: string, protocol: string }>
  tunnels: TunnelStatus[]
  /** Totals over finished and live tunnels. */
  bytes: { in: number, out: number }
  gateways: GatewayStatus
  /** TUN mode, or null when off. */
  tun: TunStatus | null
  controlSocket: string
  metricsListen: string | null
  rssBytes: number
  /** `process.memoryUsage()` of the daemon (bytes): what the RSS is made of. */
  memory: { rss: number, heapTotal: number, heapUsed: number, external: number, arrayBuffers: number }
}

/** What the status builder needs besides the node. */
export interface StatusSources {
  node: PeerupNode
  config: LoadedConfig
  /** @default the node's own list (`node.outbound`) */
  outbound?: () => Iterable<OutboundTunnel>
  gateways: () => GatewayStatus
  /** TUN mode, when running. */
  tun?: () => TunMode | undefined
  controlSocket: string
  metricsListen: () => string | null
  startedAt: number
}

const relayIdOf = (addr: string): string | null => /\/p2p\/([^/]+)$/.exec(addr)?.[1] ?? null

/** Live tunnels, inbound (service registry) and outbound (control API). */
function tunnels (src: StatusSources): TunnelStatus[] {
  const out: TunnelStatus[] = src.node.services.tunnels().map(t => ({
    direction: 'inbound' as const,
    service: t.service,
    peerId: t.peer,
    startedAt: new Date(t.startedAt).toISOString(),
    bytesIn: t.counters.bytesFromStream,
    bytesOut: t.counters.bytesToStream
  }))
  for (const t of src.outbound?.() ?? src.node.outbound.list()) {
    out.push({
      direction: 'outbound',
      service: t.service,
      peerId: t.peerId,
      target: t.target,
      path: t.path,
      class: t.class,
      origin: t.origin,
      startedAt: new Date(t.startedAt).toISOString(),
      bytesIn: t.counters.bytesFromStream,
      bytesOut: t.counters.bytesToStream
    })
  }
  return out
}

/** Build the status of a running node. */
export function buildStatus (src: StatusSources): DaemonStatus {
  const { node, config } = src
  const libp2p = node.libp2p
  const conns = libp2p.getConnections()
  const relayAddrs = config.config.relays
  const relayIds = new Set(relayAddrs.map(relayIdOf))
  const reservation = new Map((node.reservations?.state() ?? []).map(s => [s.relay, s]))
  const label = peerLabels(config)
  // a peer is reported by its best connection, as new tunnels choose: TCP, then UDP, then the relay
  const byPeer = new Map<string, { best: Connection, connections: number, streams: number }>()
  for (const c of conns) {
    if (c.status !== 'open') continue
    const id = c.remotePeer.toString()
    const prev = byPeer.get(id)
    if (prev == null) byPeer.set(id, { best: c, connections: 1, streams: c.streams.length })
    else {
      if (pathRank(c) < pathRank(prev.best)) prev.best = c
      prev.connections++
      prev.streams += c.streams.length
    }
  }
  const peers: PeerStatus[] = [...byPeer].map(([id, e]) => {
    const p = pathOf(e.best)
    const l = label(id)
    return { peerId: id, relay: relayIds.has(id), path: p.path, class: p.class, via: p.relay ?? null, remoteAddr: p.remoteAddr, connections: e.connections, streams: e.streams, name: l.name, comment: l.comment }
  })
  const live = tunnels(src)
  const snap = node.metrics.snapshot()
  const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0)
  return {
    peerId: node.peerId,
    role: config.config.role,
    network: config.config.network.name ?? null,
    host: config.config.network.host ?? null,
    pid: process.pid,
    uptimeSeconds: Math.round((Date.now() - src.startedAt) / 1000),
    addresses: libp2p.getMultiaddrs().map(a => a.toString()),
    relays: relayAddrs.map(addr => {
      const id = relayIdOf(addr)
      const st = reservation.get(addr)
      return {
        addr,
        peerId: id,
        connected: conns.some(c => c.status === 'open' && c.remotePeer.toString() === id),
        reserved: st?.reserved ?? false,
        lastError: st?.lastError ?? null,
        attempts: st?.attempts ?? 0
      }
    }),
    peers,
    services: node.services.list().filter(s => s.enabled !== false).map(s => ({ name: s.name, localAddress: s.localAddress, protocol: s.protocol ?? '' })),
    tunnels: live,
    bytes: {
      in: sum(snap.bytesIn) + live.reduce((a, t) => a + t.bytesIn, 0),
      out: sum(snap.bytesOut) + live.reduce((a, t) => a + t.bytesOut, 0)
    },
    gateways: src.gateways(),
    tun: tunStatus(src.tun?.()),
    controlSocket: src.controlSocket,
    metricsListen: src.metricsListen(),
    rssBytes: process.memoryUsage.rss(),
    memory: process.memoryUsage()
  }
}

function tunStatus (tun: TunMode | undefined): TunStatus | null {
  if (tun == null) return null
  return { interface: tun.interface, address: tun.address, mtu: tun.mtu, stats: tun.stats(), peers: tun.peers() }
}

/** The Prometheus text of a running node. */
export function buildMetrics (src: StatusSources): string {
  const { node } = src
  const snap = node.metrics.snapshot()
  const live = tunnels(src)
  const dirs: TunnelDirection[] = ['inbound', 'outbound']
  const liveBytes = (d: TunnelDirection, k: 'bytesIn' | 'bytesOut'): number => live.filter(t => t.direction === d).reduce((a, t) => a + t[k], 0)
  const conns = node.libp2p.getConnections().filter(c => c.status === 'open')
  const reservations = node.reservations?.state() ?? []
  const families: MetricFamily[] = [
    { name: 'peerup_tunnels_open', help: 'Tunnels open now.', type: 'gauge', samples: dirs.map(d => ({ labels: { direction: d }, value: snap.tunnelsOpen[d] })) },
    { name: 'peerup_tunnels_total', help: 'Tunnels opened since start.', type: 'counter', samples: dirs.map(d => ({ labels: { direction: d }, value: snap.tunnelsTotal[d] })) },
    { name: 'peerup_tunnels_reset_total', help: 'Tunnels that ended with a reset.', type: 'counter', samples: dirs.map(d => ({ labels: { direction: d }, value: snap.tunnelsReset[d] })) },
    { name: 'peerup_tunnel_received_bytes_total', help: 'Bytes received from the mesh on tunnels.', type: 'counter', samples: dirs.map(d => ({ labels: { direction: d }, value: snap.bytesIn[d] + liveBytes(d, 'bytesIn') })) },
    { name: 'peerup_tunnel_sent_bytes_total', help: 'Bytes sent into the mesh on tunnels.', type: 'counter', samples: dirs.map(d => ({ labels: { direction: d }, value: snap.bytesOut[d] + liveBytes(d, 'bytesOut') })) },
    { name: 'peerup_dials_total', help: 'Outbound tunnels set up, by path.', type: 'counter', samples: Object.entries(snap.dials).map(([path, value]) => ({ labels: { path }, value })) },
    { name: 'peerup_dial_failures_total', help: 'Outbound tunnels that failed to open, by error.', type: 'counter', samples: Object.entries(snap.dialFailures).map(([reason, value]) => ({ labels: { reason }, value })) },
    { name: 'peerup_auth_denials_total', help: 'Peers refused by the connection gater or a service allow-list.', type: 'counter', samples: Object.entries(snap.authDenials).map(([where, value]) => ({ labels: { where }, value })) },
    { name: 'peerup_relay_reservation', help: '1 when this node holds a reservation on the relay.', type: 'gauge', samples: reservations.map(r => ({ labels: { relay: r.relay }, value: r.reserved ? 1 : 0 })) },
    {
      name: 'peerup_connections',
      help: 'Open connections, by path.',
      type: 'gauge',
      samples: (['direct', 'relayed'] as const).map(p => ({ labels: { path: p }, value: conns.filter(c => pathOf(c).path === p).length }))
    },
    ...tunFamilies(src.tun?.()),
    { name: 'peerup_process_resident_memory_bytes', help: 'Resident set size of the daemon.', type: 'gauge', samples: [{ value: process.memoryUsage.rss() }] },
    { name: 'peerup_process_start_time_seconds', help: 'Start time of the daemon, Unix seconds.', type: 'gauge', samples: [{ value: Math.round(src.startedAt / 1000) }] }
  ]
  return renderPrometheus(families)
}

function tunFamilies (tun: TunMode | undefined): MetricFamily[] {
  if (tun == null) return []
  const st = tun.stats()
  const peers = tun.peers()
  return [
    { name: 'peerup_tun_sent_packets_total', help: 'IP packets sent to peers over TUN mode.', type: 'counter', samples: [{ value: st.sentPackets }] },
    { name: 'peerup_tun_sent_bytes_total', help: 'Bytes of IP packets sent to peers over TUN mode.', type: 'counter', samples: [{ value: st.sentBytes }] },
    { name: 'peerup_tun_received_packets_total', help: 'IP packets received from peers and written to the TUN interface.', type: 'counter', samples: [{ value: st.receivedPackets }] },
    { name: 'peerup_tun_received_bytes_total', help: 'Bytes of IP packets received from peers and written to the TUN interface.', type: 'counter', samples: [{ value: st.receivedBytes }] },
    { name: 'peerup_tun_dropped_packets_total', help: 'IP packets dropped by TUN mode, by reason.', type: 'counter', samples: Object.entries(st.dropped).map(([reason, value]) => ({ labels: { reason }, value })) },
    { name: 'peerup_tun_icmp_sent_total', help: 'ICMP destination-unreachable packets TUN mode wrote back.', type: 'counter', samples: [{ value: st.icmpSent }] },
    { name: 'peerup_tun_links', help: 'Peers with an open TUN link, by path.', type: 'gauge', samples: (['direct', 'direct-udp', 'relayed'] as const).map(p => ({ labels: { path: p }, value: peers.filter(x => x.path != null && (p === 'relayed' ? x.path.startsWith('relayed') : x.path === p)).length })) }
  ]
}
