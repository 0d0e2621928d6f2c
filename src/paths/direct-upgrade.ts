import { logger } from '@libp2p/logger'
import { DIRECT_UPGRADE_DIAL_TIMEOUT, DIRECT_UPGRADE_IDENTIFY_TIMEOUT, DIRECT_UPGRADE_RETIRE_CHECK, DIRECT_UPGRADE_RETRY, KAD_PROTOCOL } from '../constants.js'
import { errorText } from './dialer.js'
import { isCircuitAddr, isRelayedConnection, pathOf } from './path-facts.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { Connection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

const log = logger('peerup:upgrade')

/** Protocols whose streams do not keep a superseded relayed connection alive. */
const BACKGROUND_PROTOCOLS = new Set(['/ipfs/id/1.0.0', '/ipfs/id/push/1.0.0', '/libp2p/dcutr', KAD_PROTOCOL])

/** Init of {@link createDirectUpgrader}. */
export interface DirectUpgraderInit {
  /**
   * How long to wait for identify on the relayed connection (the remote's
   * addresses) before giving up (ms).
   *
   * @default 5000
   */
  identifyTimeout?: number
  /**
   * Time limit of the direct dial (ms).
   *
   * @default 5000
   */
  dialTimeout?: number
  /**
   * How often a superseded relayed connection is checked for remaining
   * tunnels before it is closed (ms).
   *
   * @default 1000
   */
  retireCheckInterval?: number
  /**
   * After a failed attempt, how long before the same peer is tried again (ms).
   *
   * @default 30000
   */
  retryAfter?: number
}

/**
 * Replaces relayed connections by direct ones where the remote advertises an
 * address we can dial: a port forward announced with `network.announce`, a
 * LAN address. It complements libp2p's DCUtR, whose unilateral upgrade only
 * runs on the side that *received* the relayed connection and only towards
 * addresses libp2p deems public (TEST-NET and RFC 1918 ranges are not).
 */
export interface DirectUpgrader {
  /**
   * Try to open a direct connection to the peer of `relayed` (outbound, ours):
   * waits for identify, dials the remote's non-relay, non-loopback addresses,
   * and on success retires `relayed`. Resolves with the direct connection,
   * or undefined when none could be had. Never rejects.
   */
  upgrade: (relayed: Connection) => Promise<Connection | undefined>
  /**
   * Close the peer's relayed connections once they carry no tunnels (a
   * direct connection has superseded them), including ones that open within
   * `windowMs` (the loser of a direct/relay race).
   */
  retireRelayed: (peer: PeerId, windowMs?: number) => void
  /** Stop timers and listeners. */
  stop: () => void
}

/**
 * What supersedes a relayed connection: a direct TCP one. A direct UDP
 * (WebRTC) connection does not: the relayed one stays beside it as the
 * fallback the path manager relies on, and the WebRTC connection itself is
 * never retired as if it were relayed (its address has a `/p2p-circuit`
 * only for the signalling).
 */
const isDirectTcp = (c: Connection): boolean => c.status === 'open' && pathOf(c).class === 'direct-tcp'

/** Addresses worth a direct dial: not a circuit (nor WebRTC signalled over one), not loopback or link-local, TCP or WebSocket. */
export function directCandidates (addrs: Multiaddr[], peer: string): Multiaddr[] {
  const out = new Map<string, Multiaddr>()
  for (const ma of addrs) {
    if (isCircuitAddr(ma)) continue
    const host = ma.getComponents()[0]
    if (host == null) continue
    if (host.name === 'ip4' && (host.value?.startsWith('127.') === true || host.value?.startsWith('169.254.') === true || host.value === '0.0.0.0')) continue
    if (host.name === 'ip6' && (host.value === '::1' || host.value === '::' || host.value?.toLowerCase().startsWith('fe80') === true)) continue
    if (!['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(host.name)) continue
    if (!ma.getComponents().some(c => c.name === 'tcp')) continue
    const full = ma.getComponents().some(c => c.name === 'p2p') ? ma : ma.encapsulate(`/p2p/${peer}`)
    out.set(full.toString(), full)
  }
  return [...out.values()]
}

/** Create a {@link DirectUpgrader} for a node. */
export function createDirectUpgrader (libp2p: PeerupLibp2p, init: DirectUpgraderInit = {}): DirectUpgrader {
  const identifyTimeout = init.identifyTimeout ?? DIRECT_UPGRADE_IDENTIFY_TIMEOUT
  const dialTimeout = init.dialTimeout ?? DIRECT_UPGRADE_DIAL_TIMEOUT
  const retireCheck = init.retireCheckInterval ?? DIRECT_UPGRADE_RETIRE_CHECK
  const retryAfter = init.retryAfter ?? DIRECT_UPGRADE_RETRY
  const inFlight = new Map<string, Promise<Connection | undefined>>()
  const failedAt = new Map<string, number>()
  const watching = new Set<string>()
  const retiring = new Set<string>()
  const timers = new Set<NodeJS.Timeout>()
  const cleanups = new Set<() => void>()
  let stopped = false

  const hasTunnels = (c: Connection): boolean => c.streams.some(s => s.protocol == null || !BACKGROUND_PROTOCOLS.has(s.protocol))

  /** Close `conn` as soon as it carries no tunnels (checked every `retireCheck` ms while it is open). */
  const retire = (conn: Connection): void => {
    if (retiring.has(conn.id) || !isRelayedConnection(conn)) return
    retiring.add(conn.id)
    const tick = (): void => {
      if (stopped || conn.status !== 'open') { retiring.delete(conn.id); return }
      // the direct connection went away meanwhile: keep the relayed one
      if (!libp2p.getConnections(conn.remotePeer).some(isDirectTcp)) { retiring.delete(conn.id); return }
      if (!hasTunnels(conn)) {
        log('closing relayed connection %s to %p: a direct connection superseded it', conn.id, conn.remotePeer)
        retiring.delete(conn.id)
        conn.close().catch((err: Error) => { conn.abort(err) })
        return
      }
      const t = setTimeout(() => { timers.delete(t); tick() }, retireCheck)
      t.unref()
      timers.add(t)
    }
    tick()
  }

  /** The remote's addresses from identify: wait for it on `conn` if the peer store has none yet. */
  const remoteAddrs = async (conn: Connection): Promise<Multiaddr[]> => {
    const peer = conn.remotePeer
    const stored = async (): Promise<Multiaddr[]> => {
      try {
        return (await libp2p.peerStore.get(peer)).addresses.map(a => a.multiaddr)
      } catch { return [] }
    }
    const now = directCandidates(await stored(), peer.toString())
    if (now.length > 0) return now
    await new Promise<void>(resolve => {
      const done = (): void => { clearTimeout(timer); libp2p.removeEventListener('peer:identify', onIdentify); cleanups.delete(done); resolve() }
      const onIdentify = (evt: any): void => { if (evt.detail?.connection?.id === conn.id || evt.detail?.peerId?.equals?.(peer) === true) done() }
      const timer = setTimeout(done, identifyTimeout)
      timer.unref()
      libp2p.addEventListener('peer:identify', onIdentify)
      cleanups.add(done)
    })
    return directCandidates(await stored(), peer.toString())
  }

  const run = async (relayed: Connection): Promise<Connection | undefined> => {
    const peer = relayed.remotePeer
    const existing = libp2p.getConnections(peer).find(isDirectTcp)
    if (existing != null) { retire(relayed); return existing }
    const candidates = await remoteAddrs(relayed)
    if (stopped || candidates.length === 0) {
      log('no direct address known for %p; staying relayed', peer)
      return undefined
    }
    const started = Date.now()
    log('trying a direct connection to %p at %s', peer, candidates.map(String).join(', '))
    // each address on its own, in parallel: an unroutable LAN address of the
    // remote must not delay a working public one
    const attempts = candidates.map(async ma => {
      // dial the bare address: libp2p's dial queue would fold a dial carrying the
      // peer ID into any pending dial to that peer (a WebRTC hole punch can take
      // 15 s), so check the peer after the handshake instead (the gater has
      // already vetted it)
      const bare = ma.getComponents().some(c => c.name === 'p2p') ? ma.decapsulateCode(421) : ma
      const conn = await libp2p.dial(bare, { signal: AbortSignal.timeout(dialTimeout), force: true })
      if (!conn.remotePeer.equals(peer)) {
        conn.abort(new Error('not the expected peer'))
        throw new Error(`${bare.toString()} is ${conn.remotePeer.toString()}, not ${peer.toString()}`)
      }
      if (isCircuitAddr(conn.remoteAddr)) throw new Error('got a relayed connection')
      return conn
    })
    try {
      const direct = await Promise.any(attempts)
      log('direct connection to %p via %a after %d ms', peer, direct.remoteAddr, Date.now() - started)
      // a second address may also have connected: keep one direct connection
      void Promise.allSettled(attempts).then(results => {
        for (const r of results) {
          if (r.status === 'fulfilled' && r.value.id !== direct.id && !hasTunnels(r.value)) r.value.close().catch(() => {})
        }
      })
      for (const c of libp2p.getConnections(peer)) if (isRelayedConnection(c)) retire(c)
      return direct
    } catch (err: any) {
      const reasons = (err?.errors ?? [err]).map((e: any) => errorText(e)).join('; ')
      log('no direct connection to %p (%s); staying relayed', peer, reasons)
      return undefined
    }
  }

  return {
    upgrade: async (relayed) => {
      const key = relayed.remotePeer.toString()
      const pending = inFlight.get(key)
      if (pending != null) return await pending
      if (Date.now() - (failedAt.get(key) ?? -Infinity) < retryAfter) return undefined
      const p = run(relayed).catch((err: Error) => { log('direct upgrade to %p failed: %s', relayed.remotePeer, err.message); return undefined })
      inFlight.set(key, p)
      try {
        const direct = await p
        if (direct == null) failedAt.set(key, Date.now())
        else failedAt.delete(key)
        return direct
      } finally {
        inFlight.delete(key)
      }
    },
    retireRelayed: (peer, windowMs = DIRECT_UPGRADE_DIAL_TIMEOUT) => {
      for (const c of libp2p.getConnections(peer)) if (isRelayedConnection(c)) retire(c)
      const key = peer.toString()
      if (watching.has(key)) return
      watching.add(key)
      const onOpen = (evt: any): void => {
        const c = evt.detail as Connection
        if (c.remotePeer.equals(peer) && isRelayedConnection(c)) retire(c)
      }
      const done = (): void => { clearTimeout(timer); timers.delete(timer); watching.delete(key); libp2p.removeEventListener('connection:open', onOpen); cleanups.delete(done) }
      const timer = setTimeout(done, windowMs)
      timer.unref()
      timers.add(timer)
      libp2p.addEventListener('connection:open', onOpen)
      cleanups.add(done)
    },
    stop: () => {
      stopped = true
      for (const t of timers) clearTimeout(t)
      timers.clear()
      for (const c of [...cleanups]) c()
    }
  }
}
