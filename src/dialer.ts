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

/**
 * A readable reason for a failed dial or stream. libp2p sometimes rejects
 * with a close `Event` instead of an `Error` when the remote hangs up right
 * after the handshake, which is how a remote connection gater says no.
 */
export function errorText (err: any): string {
  if (err instanceof Error) return err.message !== '' ? err.message : err.name
  if (err != null && typeof err === 'object' && typeof err.type === 'string') {
    if (err.error instanceof Error && err.error.message !== '') return err.error.message
    return 'the remote closed the connection right after the handshake'
  }
  return String(err)
}

/** Whether a failure is a connection closed under us (libp2p rejects with the close `Event`). */
export function isRemoteRefusal (err: any): boolean {
  return err != null && typeof err === 'object' && !(err instanceof Error) && typeof err.type === 'string'
}

/**
 * Whether `peer` hung up without ever completing identify with us: how a
 * remote connection gater says no (it closes right after the handshake). A
 * peer that identified and then went away (shutdown, crash) is not a refusal.
 */
export async function neverIdentified (libp2p: PeerupLibp2p, peer: string): Promise<boolean> {
  try {
    const p = await libp2p.peerStore.get(parsePeerId(peer))
    return p.protocols.length === 0
  } catch {
    return true
  }
}

/**
 * Whether a failed dial or reservation is `peer`'s gater refusing us: it hung
 * up right after the handshake (a close Event, or an EOF/reset on the first
 * stream, depending on timing) and never completed identify.
 */
export async function looksRefused (libp2p: PeerupLibp2p, err: any, peer: string): Promise<boolean> {
  const hungUp = isRemoteRefusal(err) || /unexpected eof|closed while reading|stream (has been |was )?(closed|reset)|\[object Event\]/i.test(errorText(err))
  return hungUp && await neverIdentified(libp2p, peer)
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
  const attempt = async (label: string, addrs: Multiaddr[], via?: string): Promise<Connection> => {
    try {
      const conn = await libp2p.dial(addrs, { signal, force })
      if (!matches(conn, pref)) throw new Error(`got a ${isCircuit(conn.remoteAddr) ? 'relayed' : 'direct'} connection`)
      return conn
    } catch (err: any) {
      const refused = await looksRefused(libp2p, err, via ?? target.peerId)
      const msg = `${label}: ${refused ? (via == null ? 'refused: the peer hung up right after the handshake (not in its authorized_keys?)' : 'refused: the relay hung up right after the handshake (not a member?)') : errorText(err)}`
      errors.push(msg)
      log('dial %s failed: %s', label, msg)
      throw err
    }
  }
  if (pref !== 'relay' && direct.length > 0) attempts.push(attempt('direct', direct))
  if (pref !== 'direct') {
    for (const r of relayed) {
      const relayAddr = r.toString().split('/p2p-circuit')[0]
      attempts.push(attempt(`via ${relayAddr}`, [r], /\/p2p\/([^/]+)$/.exec(relayAddr)?.[1] ?? ''))
    }
  }
  if (attempts.length === 0) {
    throw new UnreachableError(pref === 'direct'
      ? `no direct address known for ${target.peerId}`
      : `no direct address known for ${target.peerId} and no relay configured`)
  }
  try {
    return await Promise.any(attempts)
  } catch (err: any) {
    const denied = errors.some(e => /deny|denied|gater|not authori|refused: /i.test(e))
    const detail = errors.join('; ')
    if (denied) throw new NotAuthorizedError(`connection to ${target.peerId} refused: ${detail} (our peer ID: ${libp2p.peerId.toString()})`)
    throw new UnreachableError(`cannot reach ${target.peerId} (${pref} path): ${detail}`)
  }
}
