import { renderPrometheus } from '../metrics/node-metrics.js'
import type { MetricFamily } from '../metrics/node-metrics.js'
import type { RelayStatus } from './relay-server.js'
import type { StunStats } from './stun-server.js'

/**
 * The relay's Prometheus text (`relay.metrics_listen`): the same numbers as
 * `peerup relay status`, for an operator's scraper and alerts.
 */
export function relayMetrics (s: RelayStatus, stun?: StunStats): string {
  const MiB = 1024 * 1024
  const g = (name: string, help: string, value: number | null): MetricFamily => ({ name, help, type: 'gauge', samples: value == null ? [] : [{ value }] })
  const c = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'counter', samples: [{ value }] })
  const families: MetricFamily[] = [
    g('peerup_relay_reservations', 'Reservations held now.', s.reservations),
    g('peerup_relay_circuits_active', 'Circuits open now.', s.activeCircuits),
    g('peerup_relay_circuits_paused', 'Open circuits paused by a slow destination (backpressure).', s.pausedCircuits),
    c('peerup_relay_circuits_opened_total', 'Circuits opened since start.', s.circuitsOpened),
    c('peerup_relay_circuits_refused_total', 'Circuit requests refused since start (any reason).', s.circuitsRefused),
    c('peerup_relay_circuits_refused_by_limit_total', 'Circuit requests refused by a limit (rate, per-peer, total, reservation table).', s.refusedByLimit),
    c('peerup_relay_peers_penalized_total', 'Peers disconnected for flooding the relay.', s.peersPenalized),
    c('peerup_relay_relayed_bytes_total', 'Bytes relayed, both directions, open circuits included.', s.bytesRelayed + s.bytesInFlightCircuits),
    g('peerup_relay_connections', 'Open connections.', s.connections),
    g('peerup_relay_peers', 'Distinct peers connected.', s.peers),
    g('peerup_process_resident_memory_bytes', 'Resident set size.', Math.round(s.process.rssMiB * MiB)),
    g('peerup_process_heap_used_bytes', 'V8 heap in use.', Math.round(s.process.heapUsedMiB * MiB)),
    g('peerup_process_open_fds', 'Open file descriptors.', s.process.fds)
  ]
  if (stun != null) {
    families.push(
      c('peerup_relay_stun_answered_total', 'STUN Binding requests answered.', stun.answered),
      { name: 'peerup_relay_stun_dropped_total', help: 'STUN datagrams dropped, by reason.', type: 'counter', samples: [{ labels: { reason: 'malformed' }, value: stun.malformed }, { labels: { reason: 'rate_limited' }, value: stun.limited }] }
    )
  }
  return renderPrometheus(families)
}
