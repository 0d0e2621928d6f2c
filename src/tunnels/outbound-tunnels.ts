/**
 * The outbound tunnels of a node, whoever opened them: `peerup nc` and
 * `peerup proxy` through the control socket, the SOCKS gateway, or
 * `tunnelSocket()`. One list, so `peerup status` and `/metrics` count every
 * byte that went into the mesh, not only the control API's.
 */
import type { PathInfo } from '../paths/path-facts.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'

/** What opened an outbound tunnel. */
export type TunnelOrigin = 'nc' | 'proxy' | 'socks' | 'api'

/** A live outbound tunnel. */
export interface OutboundTunnel {
  target: string
  service: string
  peerId: string
  path: 'direct' | 'relayed'
  /** `direct-tcp`, `direct-udp` or `relayed`. */
  class: PathInfo['class']
  origin: TunnelOrigin
  startedAt: number
  /** Live byte counters: hand them to `spliceSocketStream({ counters })`. */
  counters: { bytesFromStream: number, bytesToStream: number }
}

/** A tunnel being counted; call `end()` once when it is over. */
export interface TrackedTunnel extends OutboundTunnel {
  end (clean: boolean): void
}

/** The outbound tunnels of a node. */
export interface OutboundTunnels {
  /** Start counting a tunnel that has just opened. */
  track (t: { target: string, service: string, peerId: string, path: PathInfo, origin: TunnelOrigin }): TrackedTunnel
  /** The tunnels open now. */
  list (): OutboundTunnel[]
}

/** Components of {@link createOutboundTunnels}. */
export interface OutboundTunnelsComponents {
  /** Opened and closed tunnels and their bytes are added here. */
  metrics?: NodeMetrics
}

/** Create the outbound tunnel list of a node. */
export function createOutboundTunnels (components: OutboundTunnelsComponents = {}): OutboundTunnels {
  const live = new Set<TrackedTunnel>()
  return {
    track (t) {
      let ended = false
      const tunnel: TrackedTunnel = {
        target: t.target,
        service: t.service,
        peerId: t.peerId,
        path: t.path.path,
        class: t.path.class,
        origin: t.origin,
        startedAt: Date.now(),
        counters: { bytesFromStream: 0, bytesToStream: 0 },
        end (clean) {
          if (ended) return
          ended = true
          live.delete(tunnel)
          components.metrics?.tunnelClosed('outbound', { bytesIn: tunnel.counters.bytesFromStream, bytesOut: tunnel.counters.bytesToStream, clean })
        }
      }
      live.add(tunnel)
      components.metrics?.tunnelOpened('outbound')
      return tunnel
    },
    list () { return [...live] }
  }
}
