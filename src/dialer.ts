import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { DIAL_TIMEOUT } from './constants.js'
import { NotAuthorizedError, UnreachableError } from './errors.js'
import { parsePeerId } from './identity.js'
import type { PeerupLibp2p } from './network.js'
import type { AbortOptions, Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const log = logger('peerup:dialer')

/** Which path to use for a connection. `auto` races direct and relayed. */
export type PathPreference = 'auto' | 'direct' | 'relay'

/** Path class of a connection. */
export interface PathInfo {
  /** `direct` or `relayed`. */
  path: 'direct' | 'relayed'
  /** Relay peer ID for relayed connections. */
  relay?: string
  /** Remote address of the connection. */
  remoteAddr: string
}

/** Describe the path of a connection. */
export function pathOf (conn: Connection): PathInfo {
  const addr = conn.remoteAddr.toString()
  const i = addr.indexOf('/p2p-circuit')
  if (i < 0) return { path: 'direct', remoteAddr: addr }
  const relay = /\/p2p\/([^/]+)$/.exec(addr.slice(0, i))?.[1]
  return { path: 'relayed', relay, remoteAddr: addr }
}

/** Human form of a path: `direct` or `relayed via <relay>`. */
export function describePath (p: PathInfo): string {
  return p.path === 'direct' ? 'direct' : `relayed via ${p.relay ?? 'relay'}`
}

/** A dial target. */
export interface DialTarget {
  peerId: string
  /** Direct addresses known for the peer (names file, registry, DHT). */
  addrs?: string[]
}

/** Init of {@link connectToPeer}. */
export interface ConnectOptions extends AbortOptions {
  /**
   * Path preference.
   *
   * @default 'auto'
   */
  path?: PathPreference
  /** Relay multiaddrs (each ending in `/p2p/<relay-id>`). */
  relays?: string[]
  /**
   * Timeout for the whole attempt (ms).
   *
   * @default 10000
   */
  timeout?: number
}

function isCircuit (ma: Multiaddr | string): boolean {
  return ma.toString().includes('/p2p-circuit')
}

function withPeer (addr: string, peerId: string): Multiaddr {
  const ma = multiaddr(addr)
  return addr.includes('/p2p/') ? ma : ma.encapsulate(`/p2p/${peerId}`)
}

function matches (conn: Connection, pref: PathPreference): boolean {
  if (conn.status !== 'open') return false
  if (pref === 'auto') return true
  return (pref === 'direct') === !isCircuit(conn.remoteAddr)
}

/**
 * Connect to a peer on the preferred path. `auto` reuses an open connection
 * (direct first), else races the known direct addresses against every
 * configured relay; `direct` and `relay` insist on that path and fail with
 * {@link UnreachableError} when it cannot be had. A gater denial at the
 * remote surfaces as {@link NotAuthorizedError} where libp2p tells us.
 */
export async function connectToPeer (libp2p: PeerupLibp2p, target: DialTarget, options: ConnectOptions = {}): Promise<Connection> {
  const pref = options.path ?? 'auto'
  const peer = parsePeerId(target.peerId)
  const existing = libp2p.getConnections(peer).filter(c => matches(c, pref))
  existing.sort((a, b) => Number(isCircuit(a.remoteAddr)) - Number(isCircuit(b.remoteAddr)))
  if (existing.length > 0) return existing[0]

  const signal = AbortSignal.any([AbortSignal.timeout(options.timeout ?? DIAL_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
  const known = new Set<string>(target.addrs ?? [])
  try {
    const stored = await libp2p.peerStore.get(peer)
    for (const a of stored.addresses) known.add(a.multiaddr.toString())
  } catch {}
  const direct = [...known].filter(a => !isCircuit(a)).map(a => withPeer(a, target.peerId))
  const relayed = (options.relays ?? []).map(r => multiaddr(r).encapsulate(`/p2p-circuit/p2p/${target.peerId}`))
  const force = pref !== 'auto'

  const attempts: Array<Promise<Connection>> = []
  const errors: string[] = []
  const attempt = async (label: string, addrs: Multiaddr[]): Promise<Connection> => {
    try {
      const conn = await libp2p.dial(addrs, { signal, force })
      if (!matches(conn, pref)) throw new Error(`got a ${isCircuit(conn.remoteAddr) ? 'relayed' : 'direct'} connection`)
      return conn
    } catch (err: any) {
      const msg = `${label}: ${err.message ?? err}`
      errors.push(msg)
      log('dial %s failed: %s', label, err.message)
      throw err
    }
  }
  if (pref !== 'relay' && direct.length > 0) attempts.push(attempt('direct', direct))
  if (pref !== 'direct') {
    for (const r of relayed) attempts.push(attempt(`via ${r.toString().split('/p2p-circuit')[0]}`, [r]))
  }
  if (attempts.length === 0) {
    throw new UnreachableError(pref === 'direct'
      ? `no direct address known for ${target.peerId}`
      : `no direct address known for ${target.peerId} and no relay configured`)
  }
  try {
    return await Promise.any(attempts)
  } catch (err: any) {
    const denied = errors.some(e => /deny|denied|gater|not authori/i.test(e))
    const detail = errors.join('; ')
    if (denied) throw new NotAuthorizedError(`connection to ${target.peerId} refused: ${detail}`)
    throw new UnreachableError(`cannot reach ${target.peerId} (${pref} path): ${detail}`)
  }
}
