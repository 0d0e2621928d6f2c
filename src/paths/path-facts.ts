/**
 * Path and address facts: the one place that says whether an address or a
 * connection goes through a relay, which relay, and which path class a
 * connection has. Everything here reads the multiaddr alone.
 *
 * Two questions look alike and differ:
 * - {@link isCircuitAddr}: is the address *dialled* through a relay? True
 *   for `<relay>/p2p-circuit/p2p/<peer>` and also for
 *   `<relay>/p2p-circuit/webrtc/p2p/<peer>`, where the relay only carries
 *   the WebRTC signalling.
 * - {@link isRelayedAddr}: does the *data* flow through a relay? False for
 *   WebRTC: once the hole is punched the data flows peer to peer over UDP.
 *
 * A WebRTC connection is direct UDP, never relayed: the dialer ranks it as
 * direct, and the direct upgrade never retires it as a relayed one.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The circuit relay v2 component, as it appears in a multiaddr string. */
export const CIRCUIT = '/p2p-circuit'

/** Path class of a connection: direct over TCP, direct over UDP (WebRTC, hole-punched), or through a relay. */
export type PathClass = 'direct-tcp' | 'direct-udp' | 'relayed'

/** Path class of a connection. */
export interface PathInfo {
  /** `direct` or `relayed` (kept for compatibility; see `class`). */
  path: 'direct' | 'relayed'
  /** `direct-tcp`, `direct-udp` or `relayed`. */
  class: PathClass
  /** Relay peer ID for relayed connections (and the signalling relay of a direct UDP connection we dialled). */
  relay?: string
  /** Remote address of the connection. */
  remoteAddr: string
  /**
   * Limits the relay put on this connection (what was left when asked), if
   * any: the relay cuts the connection, and every tunnel on it, once one
   * runs out. A stock circuit relay v2 server has 128 KiB and 2 min by default.
   */
  limits?: { bytes?: number, seconds?: number }
}

const text = (ma: Multiaddr | string): string => typeof ma === 'string' ? ma : ma.toString()

/** Whether the address is dialled through a relay: it has a `/p2p-circuit` component (WebRTC signalled over a relay included). */
export function isCircuitAddr (ma: Multiaddr | string): boolean {
  return text(ma).includes(CIRCUIT)
}

/**
 * Whether an address is a direct UDP (WebRTC) one: `…/p2p-circuit/webrtc/p2p/<peer>`
 * on the dialling side, `/webrtc/p2p/<peer>` on the listening side. The relay
 * only carried the signalling; the data flows peer to peer.
 */
export function isUdpDirectAddr (ma: Multiaddr | string): boolean {
  return /\/webrtc(\/|$)/.test(text(ma))
}

/** Whether the data on this address goes through a relay (a circuit, and not a WebRTC address signalled over one). */
export function isRelayedAddr (ma: Multiaddr | string): boolean {
  return isCircuitAddr(ma) && !isUdpDirectAddr(ma)
}

/** Whether the data of this connection goes through a relay (see {@link isRelayedAddr}). */
export function isRelayedConnection (conn: Pick<Connection, 'remoteAddr'>): boolean {
  return isRelayedAddr(conn.remoteAddr)
}

/** The relay's part of a circuit address (everything before `/p2p-circuit`), or undefined for a non-circuit address. */
export function relayAddrOf (ma: Multiaddr | string): string | undefined {
  const s = text(ma)
  const i = s.indexOf(CIRCUIT)
  return i < 0 ? undefined : s.slice(0, i)
}

/** The relay's peer ID in a circuit address (the `/p2p/` right before `/p2p-circuit`), or undefined. */
export function relayPeerIdOf (ma: Multiaddr | string): string | undefined {
  const relay = relayAddrOf(ma)
  return relay == null ? undefined : /\/p2p\/([^/]+)$/.exec(relay)?.[1]
}

/** The peer ID an address ends in (its last `/p2p/` component), e.g. a relay's from its configured address; undefined if it has none. */
export function peerIdOfAddr (ma: Multiaddr | string): string | undefined {
  const m = typeof ma === 'string' ? multiaddr(ma) : ma
  return m.getComponents().filter(c => c.name === 'p2p').pop()?.value
}

/** The relayed address of `peerId` through `relay` (`<relay>/p2p-circuit/p2p/<peer>`). */
export function circuitAddr (relay: Multiaddr | string, peerId: string): Multiaddr {
  return multiaddr(text(relay)).encapsulate(`${CIRCUIT}/p2p/${peerId}`)
}

/** The WebRTC address of `peerId` signalled through `relay` (`<relay>/p2p-circuit/webrtc/p2p/<peer>`). */
export function webrtcAddr (relay: Multiaddr | string, peerId: string): Multiaddr {
  return multiaddr(text(relay)).encapsulate(`${CIRCUIT}/webrtc/p2p/${peerId}`)
}

/** The address to listen on for a reservation on `relay` (`<relay>/p2p-circuit`). */
export function reservationAddr (relay: Multiaddr | string): Multiaddr {
  return multiaddr(text(relay)).encapsulate(CIRCUIT)
}

/** Path class of an address. */
export function pathClassOf (ma: Multiaddr | string): PathClass {
  if (isUdpDirectAddr(ma)) return 'direct-udp'
  return isCircuitAddr(ma) ? 'relayed' : 'direct-tcp'
}

/** Describe the path of a connection. */
export function pathOf (conn: Pick<Connection, 'remoteAddr'> & Partial<Pick<Connection, 'limits'>>): PathInfo {
  const addr = conn.remoteAddr.toString()
  const relay = relayPeerIdOf(addr)
  const cls = pathClassOf(addr)
  if (cls === 'direct-udp') return { path: 'direct', class: 'direct-udp', ...(relay != null ? { relay } : {}), remoteAddr: addr }
  if (cls === 'direct-tcp') return { path: 'direct', class: 'direct-tcp', remoteAddr: addr }
  const limits = conn.limits != null
    ? { ...(conn.limits.bytes != null ? { bytes: Number(conn.limits.bytes) } : {}), ...(conn.limits.seconds != null ? { seconds: conn.limits.seconds } : {}) }
    : undefined
  return { path: 'relayed', class: 'relayed', relay, remoteAddr: addr, ...(limits != null ? { limits } : {}) }
}

/** `130452` → `127 KiB`. */
function bytesText (n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`
  if (n >= 1024) return `${Math.floor(n / 1024)} KiB`
  return `${n} bytes`
}

/**
 * A warning for a connection the relay limits, or undefined: tunnels on it
 * are reset when a limit runs out, which otherwise looks like a random cut.
 */
export function describeLimits (p: PathInfo): string | undefined {
  if (p.limits == null) return undefined
  const parts = [
    p.limits.bytes != null ? bytesText(p.limits.bytes) : undefined,
    p.limits.seconds != null ? `${p.limits.seconds} s` : undefined
  ].filter(x => x != null)
  if (parts.length === 0) return undefined
  return `relay${p.relay != null ? ` ${p.relay}` : ''} limits this connection (left: ${parts.join(', ')}): its tunnels are reset when a limit runs out (use a relay without circuit limits, e.g. peerup relay serve)`
}

/** Human form of a path: `direct`, `direct-udp` or `relayed via <relay>`. */
export function describePath (p: PathInfo): string {
  if (p.class === 'direct-udp') return 'direct-udp'
  return p.path === 'direct' ? 'direct' : `relayed via ${p.relay ?? 'relay'}`
}

/** Rank of a path class for new tunnels when direct is preferred: TCP, then UDP, then relay. */
export function pathRank (conn: Pick<Connection, 'remoteAddr'>): number {
  const c = pathOf(conn).class
  return c === 'direct-tcp' ? 0 : c === 'direct-udp' ? 1 : 2
}

/**
 * Open connections in the order new tunnels use them: `direct` preference
 * ranks TCP, then UDP, then relayed (see {@link pathRank}); `relay` the
 * other way round. Connections that `exclude` names (a direct UDP one that
 * stopped answering) are left out.
 */
export function rankConnections <C extends Pick<Connection, 'remoteAddr' | 'status'>> (conns: C[], options: { prefer?: 'direct' | 'relay', exclude?: (c: C) => boolean } = {}): C[] {
  const sign = options.prefer === 'relay' ? -1 : 1
  return conns
    .filter(c => c.status === 'open' && options.exclude?.(c) !== true)
    .sort((a, b) => sign * (pathRank(a) - pathRank(b)))
}
