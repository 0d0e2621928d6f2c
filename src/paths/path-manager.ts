/**
 * Path policy: once a peer is reached over a relay, try a direct UDP
 * (WebRTC, hole-punched) connection in the background; watch direct UDP
 * connections and stop using one for new tunnels as soon as it stops
 * answering; when one dies, retry the upgrade with backoff. Relayed
 * connections (and the tunnels on them) are never closed here.
 */
import { randomBytes } from 'node:crypto'
import { logger } from '@libp2p/logger'
import {
  DIRECT_DEAD_TIMEOUT, DIRECT_HEALTH_INTERVAL, DIRECT_HEALTH_TIMEOUT, DIRECT_UPGRADE_RETRY_MAX, DIRECT_UPGRADE_RETRY_MIN, DIRECT_UPGRADE_TIMEOUT, PING_PAYLOAD_BYTES, PING_PROTOCOL
} from '../constants.js'
import { errorText } from './dialer.js'
import { isRelayedConnection, isUdpDirectAddr, pathOf, rankConnections, relayAddrOf, webrtcAddr } from './path-facts.js'
import type { PathClass } from './path-facts.js'
import { parsePeerId } from '../auth/identity.js'
import type { UdpTransportStatus } from '../network/udp-transport.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { Connection, Stream } from '@libp2p/interface'

const log = logger('peerup:paths')
/** Echoes per liveness stream: @libp2p/ping aborts a stream 10 s after it opened. */
const PINGS_PER_STREAM = 4

/** Which path new tunnels prefer. */
export type PathPolicy = 'direct' | 'relay'

/** The upgrade state of one peer. */
export interface PeerPathState {
  peerId: string
  /** `idle` (nothing to do), `trying`, `waiting` (retry scheduled), `direct` (a healthy direct UDP connection). */
  state: 'idle' | 'trying' | 'waiting' | 'direct'
  /** Failed attempts since the last success. */
  attempts: number
  /** Why the last attempt failed, or why there is no direct UDP path at all. */
  lastError?: string
  /** ms from the first relayed contact to the first direct UDP connection (once). */
  directAfterMs?: number
}

/** A change of the best path to a peer (for logs and the CLI). */
export interface PathEvent {
  peerId: string
  /** `direct-udp` (upgrade done) or `relayed` (the direct connection died or stopped answering). */
  class: 'direct-udp' | 'relayed'
  /** For `direct-udp`: ms since the first relayed contact. */
  afterMs?: number
  reason?: string
}

/** What {@link PathManager.explain} says about the path to a peer. */
export interface PathExplanation {
  peerId: string
  /** The class of the connection the next tunnel takes, or `none` when no usable connection is open (the next tunnel dials). */
  class: PathClass | 'none'
  /** The relay: of a relayed connection, or the signalling relay of a direct UDP one we dialled. */
  relay?: string
  /** Remote address of that connection. */
  remoteAddr?: string
  /** Why this path, in words: what it is and, when it is not direct, why not. */
  reason: string
}

/** Init of {@link createPathManager}. */
export interface PathManagerInit {
  libp2p: PeerupLibp2p
  /**
   * `direct`: upgrade relayed peers in the background; `relay`: never.
   *
   * @default 'direct'
   */
  prefer?: PathPolicy
  /** Whether the UDP transport loaded (and why not). */
  udp: UdpTransportStatus
  /** @default 15000 */
  upgradeTimeout?: number
  /** @default 2000 */
  retryMin?: number
  /** @default 60000 */
  retryMax?: number
  /** @default 1000 */
  healthInterval?: number
  /** @default 1500 */
  healthTimeout?: number
  /** Silence (ms) after which a direct UDP connection is closed. @default 10000 */
  deadTimeout?: number
  /** Called when the best path to a peer changes. */
  onChange?: (e: PathEvent) => void
}

/** See {@link createPathManager}. */
export interface PathManager {
  /** `connection` (relayed) reached `peerId`: try the direct UDP path in the background. */
  relayed: (peerId: string, connection: Connection) => void
  /** Whether new tunnels must avoid this connection (a direct UDP connection that stopped answering). */
  avoid: (conn: Connection) => boolean
  /** A tunnel could not open on this direct connection in time: avoid it from now on. */
  suspect: (conn: Connection, reason: string) => void
  /** Upgrade state of a peer (undefined if never relayed). */
  state: (peerId: string) => PeerPathState | undefined
  /** Why direct UDP is impossible in this process, if it is. */
  unavailable: () => string | undefined
  /**
   * What the path to `peerId` is, of which class, and why: the open
   * connection new tunnels take (ranked as the dialer ranks them, minus the
   * ones to avoid) and, for a relayed one, why there is no direct path.
   */
  explain: (peerId: string) => PathExplanation
  stop: () => void
}

interface Peer extends PeerPathState {
  firstRelayedAt: number
  relayAddr?: string
  timer?: NodeJS.Timeout
}

interface Watch {
  timer: NodeJS.Timeout
  stream?: Stream
  /** Echoes received on `stream`. */
  pings: number
  pending?: { sentAt: number, got: Buffer[] }
  bad: boolean
}

/**
 * Create the path manager of a node. Attempts are per peer, one at a time;
 * retries back off exponentially (±30% jitter) up to `retryMax`, and stop
 * once no connection to the peer remains (the next relayed contact starts
 * over).
 */
export function createPathManager (init: PathManagerInit): PathManager {
  const { libp2p } = init
  const prefer = init.prefer ?? 'direct'
  const upgradeTimeout = init.upgradeTimeout ?? DIRECT_UPGRADE_TIMEOUT
  const retryMin = init.retryMin ?? DIRECT_UPGRADE_RETRY_MIN
  const retryMax = init.retryMax ?? DIRECT_UPGRADE_RETRY_MAX
  const healthInterval = init.healthInterval ?? DIRECT_HEALTH_INTERVAL
  const healthTimeout = init.healthTimeout ?? DIRECT_HEALTH_TIMEOUT
  const deadTimeout = init.deadTimeout ?? DIRECT_DEAD_TIMEOUT
  const peers = new Map<string, Peer>()
  const watches = new Map<Connection, Watch>()
  const avoided = new WeakSet<Connection>()
  const suspectedAt = new WeakMap<Connection, number>()
  let stopped = false

  const openUdp = (peerId: string): Connection[] =>
    libp2p.getConnections(parsePeerId(peerId)).filter(c => c.status === 'open' && isUdpDirectAddr(c.remoteAddr) && !avoided.has(c))

  const emit = (e: PathEvent): void => {
    log('path to %s: %s%s', e.peerId, e.class, e.reason != null ? ` (${e.reason})` : '')
    try { init.onChange?.(e) } catch {}
  }

  const schedule = (p: Peer): void => {
    if (stopped || p.timer != null) return
    const base = Math.min(retryMax, retryMin * 2 ** Math.max(0, p.attempts - 1))
    const delay = Math.round(base * (0.7 + Math.random() * 0.6))
    p.state = 'waiting'
    p.timer = setTimeout(() => { p.timer = undefined; void attempt(p) }, delay)
    p.timer.unref()
  }

  const attempt = async (p: Peer): Promise<void> => {
    if (stopped || p.state === 'trying') return
    if (openUdp(p.peerId).length > 0) { p.state = 'direct'; return }
    const conns = libp2p.getConnections(parsePeerId(p.peerId)).filter(c => c.status === 'open')
    const relayedConn = conns.find(isRelayedConnection)
    const relayAddr = relayedConn != null ? relayAddrOf(relayedConn.remoteAddr) : p.relayAddr
    if (conns.length === 0 || relayAddr == null) {
      // nobody is talking to this peer any more: the next relayed contact starts over
      p.state = 'idle'
      return
    }
    p.relayAddr = relayAddr
    p.state = 'trying'
    const target = webrtcAddr(relayAddr, p.peerId)
    const started = Date.now()
    try {
      // force: libp2p would otherwise hand back the relayed connection we already have
      const conn = await libp2p.dial(target, { signal: AbortSignal.timeout(upgradeTimeout), force: true })
      if (stopped) return
      if (!isUdpDirectAddr(conn.remoteAddr)) throw new Error(`got ${conn.remoteAddr.toString()} instead of a WebRTC connection`)
      p.attempts = 0
      p.lastError = undefined
      p.state = 'direct'
      const afterMs = Date.now() - p.firstRelayedAt
      p.directAfterMs ??= afterMs
      log('direct UDP to %s in %d ms (%d ms since first relayed contact)', p.peerId, Date.now() - started, afterMs)
      watch(p, conn)
      emit({ peerId: p.peerId, class: 'direct-udp', afterMs })
    } catch (err: any) {
      if (stopped) return
      p.attempts++
      p.lastError = `hole punching failed after ${Date.now() - started} ms: ${errorText(err).split('\n')[0]}`
      log('direct UDP to %s: %s (attempt %d)', p.peerId, p.lastError, p.attempts)
      p.state = 'idle'
      schedule(p)
    }
  }

  /**
   * Keep one ping stream on a direct UDP connection. A late echo (or a
   * tunnel that could not open) makes new tunnels avoid the connection at
   * once, without cutting what runs on it (a saturated link can delay
   * echoes); the echo coming back clears that, and `deadTimeout` of silence
   * closes the connection. A close retries the upgrade with backoff.
   */
  const watch = (p: Peer, conn: Connection): void => {
    const w: Watch = { timer: setInterval(() => { void tick() }, healthInterval), bad: false, pings: 0 }
    w.timer.unref()
    watches.set(conn, w)
    const tick = async (): Promise<void> => {
      if (conn.status !== 'open' || stopped) return
      if (w.pending != null) {
        const age = Date.now() - w.pending.sentAt
        if (age > deadTimeout) conn.abort(new Error(`direct path lost: no ping reply in ${deadTimeout} ms`))
        else if (age > healthTimeout) setBad(p, conn, `no ping reply in ${healthTimeout} ms`)
        return
      }
      if (w.bad && !suspectedAt.has(conn)) setGood(p, conn)
      try {
        if (w.stream == null || w.stream.status !== 'open') {
          w.pending = { sentAt: Date.now(), got: [] }
          const s = await conn.newStream(PING_PROTOCOL, { signal: AbortSignal.timeout(healthTimeout) })
          w.stream = s
          w.pings = 0
          s.addEventListener('message', (evt: any) => {
            const pend = w.pending
            if (pend == null || w.stream !== s) return
            pend.got.push(Buffer.from(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()))
            if (Buffer.concat(pend.got).length < PING_PAYLOAD_BYTES) return
            w.pending = undefined
            suspectedAt.delete(conn)
            // the ping handler ends a stream after 10 s: take a fresh one well before that
            if (++w.pings >= PINGS_PER_STREAM) { w.stream = undefined; s.close().catch(() => { s.abort(new Error('ping stream rotated')) }) }
          })
          // the remote ended the stream (its 10 s limit): not a sign of a dead path
          s.addEventListener('close', () => {
            if (w.stream !== s) return
            w.stream = undefined
            w.pending = undefined
          })
        }
        w.pending = { sentAt: Date.now(), got: [] }
        w.stream.send(randomBytes(PING_PAYLOAD_BYTES))
      } catch (err: any) {
        // keep `pending`: its age is how long the path has been silent
        if (conn.status === 'open') setBad(p, conn, errorText(err))
      }
    }
    conn.addEventListener('close', () => {
      clearInterval(w.timer)
      watches.delete(conn)
      if (stopped || libp2p.status !== 'started') return
      if (!w.bad) {
        p.lastError = 'direct UDP connection closed'
        emit({ peerId: p.peerId, class: 'relayed', reason: 'closed' })
      }
      // another direct connection is up, or an attempt is already under way
      if (openUdp(p.peerId).length > 0 || p.state === 'trying') return
      p.state = 'idle'
      p.attempts = Math.max(1, p.attempts + 1)
      schedule(p)
    }, { once: true })
  }

  const setBad = (p: Peer | undefined, conn: Connection, reason: string): void => {
    if (avoided.has(conn)) return
    avoided.add(conn)
    const w = watches.get(conn)
    if (w != null) w.bad = true
    if (p != null) { p.state = 'idle'; p.lastError = `direct UDP connection stopped answering: ${reason}` }
    emit({ peerId: conn.remotePeer.toString(), class: 'relayed', reason })
  }

  const setGood = (p: Peer, conn: Connection): void => {
    const w = watches.get(conn)
    if (w != null) w.bad = false
    avoided.delete(conn)
    p.state = 'direct'
    p.lastError = undefined
    emit({ peerId: p.peerId, class: 'direct-udp', reason: 'answering again' })
  }

  const unavailable = (): string | undefined => {
    if (!init.udp.available) return init.udp.reason ?? 'the UDP transport is not available'
    if (prefer === 'relay') return 'paths.prefer is "relay"'
    return undefined
  }

  /** Why a peer reached over a relay has no direct path (yet). */
  const whyNotDirect = (peerId: string, open: Connection[]): string => {
    if (prefer === 'relay') return 'paths.prefer is "relay"'
    if (open.some(c => avoided.has(c))) return 'the direct UDP connection stopped answering; new tunnels avoid it'
    const p = peers.get(peerId)
    const udp = unavailable()
    const noUdp = udp != null ? `no direct UDP: ${udp}` : undefined
    if (p == null) return noUdp ?? 'no direct upgrade tried from this side (the peer dialled us, or no tunnel went to it yet)'
    if (p.state === 'trying') return 'hole punching (direct UDP) under way'
    if (p.state === 'waiting') return `hole punching failed ${p.attempts} time${p.attempts === 1 ? '' : 's'}, retry scheduled${p.lastError != null ? ` (${p.lastError})` : ''}`
    return p.lastError ?? noUdp ?? 'no direct path found'
  }

  return {
    relayed: (peerId, connection) => {
      if (stopped || prefer === 'relay' || !init.udp.available) return
      let p = peers.get(peerId)
      if (p == null) {
        p = { peerId, state: 'idle', attempts: 0, firstRelayedAt: Date.now() }
        peers.set(peerId, p)
      }
      p.relayAddr = relayAddrOf(connection.remoteAddr) ?? p.relayAddr
      if (p.state === 'idle') void attempt(p)
    },
    avoid: (conn) => avoided.has(conn),
    suspect: (conn, reason) => {
      // cleared by the next ping echo
      suspectedAt.set(conn, Date.now())
      setBad(peers.get(conn.remotePeer.toString()), conn, reason)
    },
    state: (peerId) => {
      const p = peers.get(peerId)
      if (p == null) return undefined
      const { firstRelayedAt, relayAddr, timer, ...rest } = p
      return { ...rest }
    },
    unavailable,
    explain: (peerId) => {
      const open = libp2p.getConnections(parsePeerId(peerId)).filter(c => c.status === 'open')
      const best = rankConnections(open, { prefer, exclude: c => avoided.has(c) })[0]
      if (best == null) {
        return {
          peerId,
          class: 'none',
          reason: open.length > 0
            ? 'its only connection is a direct UDP one that stopped answering: the next tunnel dials again'
            : 'no open connection: the next tunnel dials (known direct addresses raced against the relays)'
        }
      }
      const info = pathOf(best)
      const out = { peerId, class: info.class, ...(info.relay != null ? { relay: info.relay } : {}), remoteAddr: info.remoteAddr }
      if (info.class === 'direct-tcp') return { ...out, reason: prefer === 'relay' ? 'direct TCP connection (paths.prefer is "relay", but no relayed connection is open)' : 'direct TCP connection' }
      if (info.class === 'direct-udp') {
        const via = info.relay != null ? `, hole-punched with signalling via ${info.relay}` : ''
        return { ...out, reason: prefer === 'relay' ? `direct UDP (WebRTC${via}; paths.prefer is "relay", but no relayed connection is open)` : `direct UDP (WebRTC${via}); no direct TCP connection` }
      }
      return { ...out, reason: `relayed: ${whyNotDirect(peerId, open)}` }
    },
    stop: () => {
      stopped = true
      for (const p of peers.values()) clearTimeout(p.timer)
      for (const w of watches.values()) clearInterval(w.timer)
      watches.clear()
    }
  }
}
