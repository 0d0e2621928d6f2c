/**
 * Counters of a peerup node, and their Prometheus text exposition. No
 * client library: the format is a few lines of text, and the counters are
 * plain numbers that the node's parts bump as things happen.
 */

/** Where a tunnel was opened: `inbound` (a peer used one of our services) or `outbound` (we opened one). */
export type TunnelDirection = 'inbound' | 'outbound'

/** Counters of one node. Created by `createPeerupNode`, read by the control server. */
export interface NodeMetrics {
  /** A tunnel started. */
  tunnelOpened (direction: TunnelDirection): void
  /** A tunnel ended; `bytesIn` came from the mesh, `bytesOut` went into it. */
  tunnelClosed (direction: TunnelDirection, result: { bytesIn: number, bytesOut: number, clean: boolean }): void
  /** An outbound tunnel (or connection) was set up on this path. */
  dialed (path: 'direct' | 'relayed'): void
  /** Opening an outbound tunnel failed (the error's `name`). */
  dialFailed (reason: string): void
  /** A peer was refused: by the connection gater, or a service's allow-list. */
  authDenied (where: string): void
  /** The current numbers. */
  snapshot (): MetricsSnapshot
}

/** Counter values at one moment (bytes of finished tunnels only; add the live ones). */
export interface MetricsSnapshot {
  tunnelsOpen: Record<TunnelDirection, number>
  tunnelsTotal: Record<TunnelDirection, number>
  tunnelsReset: Record<TunnelDirection, number>
  bytesIn: Record<TunnelDirection, number>
  bytesOut: Record<TunnelDirection, number>
  dials: Record<string, number>
  dialFailures: Record<string, number>
  authDenials: Record<string, number>
}

/** Create the counters of a node. */
export function createNodeMetrics (): NodeMetrics {
  const s: MetricsSnapshot = {
    tunnelsOpen: { inbound: 0, outbound: 0 },
    tunnelsTotal: { inbound: 0, outbound: 0 },
    tunnelsReset: { inbound: 0, outbound: 0 },
    bytesIn: { inbound: 0, outbound: 0 },
    bytesOut: { inbound: 0, outbound: 0 },
    dials: { direct: 0, relayed: 0 },
    dialFailures: {},
    authDenials: {}
  }
  return {
    tunnelOpened (d) { s.tunnelsOpen[d]++; s.tunnelsTotal[d]++ },
    tunnelClosed (d, r) {
      s.tunnelsOpen[d] = Math.max(0, s.tunnelsOpen[d] - 1)
      s.bytesIn[d] += r.bytesIn
      s.bytesOut[d] += r.bytesOut
      if (!r.clean) s.tunnelsReset[d]++
    },
    dialed (p) { s.dials[p] = (s.dials[p] ?? 0) + 1 },
    dialFailed (reason) { s.dialFailures[reason] = (s.dialFailures[reason] ?? 0) + 1 },
    authDenied (where) { s.authDenials[where] = (s.authDenials[where] ?? 0) + 1 },
    snapshot () { return structuredClone(s) }
  }
}

/** One metric family for {@link renderPrometheus}. */
export interface MetricFamily {
  name: string
  help: string
  type: 'counter' | 'gauge'
  samples: Array<{ labels?: Record<string, string>, value: number }>
}

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')

/** Prometheus text exposition format 0.0.4. */
export function renderPrometheus (families: MetricFamily[]): string {
  const lines: string[] = []
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`)
    lines.push(`# TYPE ${f.name} ${f.type}`)
    for (const sample of f.samples) {
      const labels = Object.entries(sample.labels ?? {})
      const l = labels.length > 0 ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : ''
      lines.push(`${f.name}${l} ${Number.isFinite(sample.value) ? sample.value : 0}`)
    }
  }
  return lines.join('\n') + '\n'
}
