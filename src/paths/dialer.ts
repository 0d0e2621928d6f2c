import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { DIAL_TIMEOUT } from '../constants.js'
import { NotAuthorizedError, UnreachableError } from '../errors.js'
import { parsePeerId } from '../auth/identity.js'
import { dialableRemoteAddrs, isLoopbackAddr } from '../network/loopback-addrs.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { AbortOptions, Connection } from '@libp2p/interface'
import { circuitAddr, isCircuitAddr, isRelayedAddr, isUdpDirectAddr, rankConnections, relayAddrOf, relayPeerIdOf } from './path-facts.js'
import type { Multiaddr } from '@multiformats/multiaddr'

const log = logger('peerup:dialer')

/** Which path to use for a connection. `auto` races direct and relayed. */
export type PathPreference = 'auto' | 'direct' | 'relay'

// the path facts used to live here: importers of dialer.js keep finding them
export { describeLimits, describePath, isRelayedAddr, isUdpDirectAddr, pathOf, pathRank } from './path-facts.js'
export type { PathClass, PathInfo } from './path-facts.js'

/** A dial target. */
export interface DialTarget {
  peerId: string
  /** The name the user gave (for messages). @default the peer ID */
  name?: string
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
  /**
   * Which path wins among open connections when `path` is `auto`:
   * `direct` (TCP, then UDP, then relay) or `relay` (relayed first).
   *
   * @default 'direct'
   */
  prefer?: 'direct' | 'relay'
  /** Skip open connections for which this returns true (e.g. a direct UDP connection that failed a liveness check). */
  exclude?: (conn: Connection) => boolean
}

/**
 * A readable reason for a failed dial or stream. libp2p sometimes rejects
 * with a close `Event` instead of an `Error` when the remote hangs up right
 * after the handshake, which is how a remote connection gater says no.
 */
export function errorText (err: any): string {
  // libp2p's "All multiaddr dials failed" says nothing: say what each address got
  const inner = flattenErrors(err)
  if (inner.length > 1 || inner[0] !== err) return [...new Set(inner.map(errorText))].join(', ')
  if (err instanceof Error) return err.message !== '' ? err.message : err.name
  if (err != null && typeof err === 'object' && typeof err.type === 'string') {
    if (err.error instanceof Error && err.error.message !== '') return err.error.message
    return 'the remote closed the connection right after the handshake'
  }
  return String(err)
}

/** An error and the ones it aggregates (an `AggregateError` has one per address tried), flattened. */
export function flattenErrors (err: any): any[] {
  const inner: any[] = Array.isArray(err?.errors) ? err.errors : []
  return inner.length > 0 ? inner.flatMap(flattenErrors) : [err]
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
  const hungUp = flattenErrors(err).some(e => isRemoteRefusal(e) || /unexpected eof|closed while reading|stream (has been |was )?(closed|reset)|\[object Event\]/i.test(errorText(e)))
  return hungUp && await neverIdentified(libp2p, peer)
}

function withPeer (addr: string, peerId: string): Multiaddr {
  const ma = multiaddr(addr)
  return addr.includes('/p2p/') ? ma : ma.encapsulate(`/p2p/${peerId}`)
}

function matches (conn: Connection, pref: PathPreference): boolean {
  if (conn.status !== 'open') return false
  if (pref === 'auto') return true
  return (pref === 'direct') === !isRelayedAddr(conn.remoteAddr)
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
  const open = libp2p.getConnections(peer)
  const existing = rankConnections(open.filter(c => matches(c, pref)), { prefer: options.prefer, exclude: options.exclude })
  if (existing.length > 0) return existing[0]
  // an excluded (dead) connection is still open: make libp2p dial instead of handing it back
  const excluded = open.some(c => c.status === 'open' && options.exclude?.(c) === true)

  const signal = AbortSignal.any([AbortSignal.timeout(options.timeout ?? DIAL_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
  const known = new Set<string>(target.addrs ?? [])
  try {
    // learned (identify, an older peer): its loopback addresses only if it is on this host
    const stored = (await libp2p.peerStore.get(peer)).addresses.map(a => a.multiaddr.toString())
    for (const a of dialableRemoteAddrs(stored, { sameHostRelay: (options.relays ?? []).some(isLoopbackAddr) }).addrs) known.add(a)
  } catch {}
  // WebRTC addresses are dialled by the background upgrade, not raced here
  const direct = [...known].filter(a => !isCircuitAddr(a) && !isUdpDirectAddr(a)).map(a => withPeer(a, target.peerId))
  const relayed = (options.relays ?? []).map(r => circuitAddr(r, target.peerId))
  const force = pref !== 'auto' || excluded

  const attempts: Array<Promise<Connection>> = []
  const errors: string[] = []
  /** Relays that hung up on us right after the handshake: we are not a member. */
  const notMemberOf: string[] = []
  const attempt = async (label: string, addrs: Multiaddr[], relay?: { addr: string, id: string }): Promise<Connection> => {
    try {
      const conn = await libp2p.dial(addrs, { signal, force })
      if (!matches(conn, pref) || options.exclude?.(conn) === true) throw new Error(`got a ${isRelayedAddr(conn.remoteAddr) ? 'relayed' : 'direct'} connection`)
      return conn
    } catch (err: any) {
      const refused = await looksRefused(libp2p, err, relay?.id ?? target.peerId)
      if (refused && relay != null) notMemberOf.push(relay.addr)
      const msg = `${label}: ${refused ? (relay == null ? 'refused: the peer hung up right after the handshake (not in its authorized_keys?)' : 'refused: the relay hung up right after the handshake (not a member?)') : errorText(err)}`
      errors.push(msg)
      log('dial %s failed: %s', label, msg)
      throw err
    }
  }
  if (pref !== 'relay' && direct.length > 0) attempts.push(attempt('direct', direct))
  if (pref !== 'direct') {
    for (const r of relayed) {
      const relayAddr = relayAddrOf(r) ?? r.toString()
      attempts.push(attempt(`via ${relayAddr}`, [r], { addr: relayAddr, id: relayPeerIdOf(r) ?? '' }))
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
    const us = libp2p.peerId.toString()
    if (notMemberOf.length > 0) {
      // the relay's gater hangs up on strangers: only its operator can fix that
      // a direct dial racing the relayed one can be folded into it by libp2p's dial queue and
      // get the relay's hang-up: only other failures of their own are worth a mention
      const others = errors.filter(e => !notMemberOf.some(r => e.startsWith(`via ${r}:`)) && !e.includes('refused: '))
      throw new NotAuthorizedError(`cannot reach ${target.name ?? target.peerId}: not a member of relay ${notMemberOf.join(', ')}; ask its operator to run on the relay: peerup auth add ${us}${others.length > 0 ? ` (${others.join('; ')})` : ''}`)
    }
    const denied = errors.some(e => /deny|denied|gater|not authori|refused: /i.test(e))
    const detail = errors.join('; ')
    if (denied) throw new NotAuthorizedError(`connection to ${target.peerId} refused: ${detail} (our peer ID: ${us})`)
    throw new UnreachableError(`cannot reach ${target.peerId} (${pref} path): ${detail}`)
  }
}
