import { logger } from '@libp2p/logger'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { HOP_HANDSHAKE_TIMEOUT, HOP_MAX_STREAMS, HOP_SWEEP_INTERVAL } from '../../constants.js'
import { spliceStreams } from '../../tunnels/stream-splice.js'
import { HopType, Status, StopType } from './circuit-pb.js'
import { createCircuitLimits } from './circuit-limits.js'
import { readMessage, writeMessage as send } from './codec.js'
import { createReservationStore } from './reservation-store.js'
import type { CircuitLimits } from './circuit-limits.js'
import type { HopReservation, ReservationStore } from './reservation-store.js'
import type { CircuitMessage, PbLimit } from './circuit-pb.js'
import type { Connection, PeerId, Startable, Stream } from '@libp2p/interface'

const log = logger('peerup:relay:hop')

/** Protocol IDs of circuit relay v2. */
export const HOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/hop'
export const STOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/stop'

/** Init of {@link hopServer}. */
export interface HopServerInit {
  /**
   * Maximum live reservations.
   *
   * @default 1024
   */
  maxReservations?: number
  /**
   * Reservation lifetime (ms); peers refresh before it ends.
   *
   * @default 7200000
   */
  reservationTtl?: number
  /** Per-circuit limits; none by default (members are trusted). */
  limits?: { dataBytes?: bigint, durationMs?: number }
  /**
   * Per-direction write buffer at which the relay pauses the source.
   *
   * @default 262144
   */
  highWaterMark?: number
  /**
   * Timeout of the HOP/STOP handshakes (ms).
   *
   * @default 10000
   */
  handshakeTimeout?: number
  /**
   * Circuits one source peer may open per second, sustained (a token
   * bucket allowing bursts of twice this); a member in a tight loop cannot
   * starve the others.
   *
   * @default 20
   */
  maxCircuitsPerPeerPerSecond?: number
  /**
   * Most circuits open at once through this relay. Each open circuit may
   * hold up to about two yamux windows of data in the relay while its target
   * is slow, so this bounds the relay's memory.
   *
   * @default 1024
   */
  maxCircuits?: number
  /**
   * Most circuits one source peer may have open at once. One client needs
   * one circuit per home it talks to (its tunnels share that circuit).
   *
   * @default 64
   */
  maxCircuitsPerPeer?: number
  /**
   * A peer that keeps asking after the rate limit refused it (more than
   * `2 × burst` refusals beyond its allowance) is disconnected and refused
   * for this long (ms): its flood of HOP streams then costs the relay
   * nothing more. 0 turns this off.
   *
   * @default 60000
   */
  penaltyMs?: number
  /** Called when a peer is put in the penalty box (for the operator's log). */
  onPenalty?: (peer: string, ms: number) => void
  /** May this peer reserve a slot? */
  canReserve?: (peer: string) => boolean
  /** May `source` open a circuit to `destination`? */
  canConnect?: (source: string, destination: string) => boolean
}

export type { HopReservation } from './reservation-store.js'

/** Counters of the HOP server. */
export interface HopStats {
  reservations: number
  activeCircuits: number
  circuitsOpened: number
  circuitsRefused: number
  /** Circuits refused by a limit (rate, per-peer or total circuits, reservation table full). */
  refusedByLimit: number
  /** Peers disconnected for flooding the relay with requests (since start). */
  peersPenalized: number
  bytesRelayed: number
  /** Bytes relayed by the circuits open now. */
  bytesInFlightCircuits: number
  /** Circuits that a slow or frozen destination has paused right now (either direction). */
  pausedCircuits: number
}

/** The relay's HOP server. */
export interface HopServer extends Startable {
  /** Live reservations, by peer ID. */
  readonly reservations: Map<string, HopReservation>
  stats (): HopStats
  /** Is this peer in the penalty box (refused for flooding)? The relay's gater refuses its connections meanwhile. */
  isPenalized (peer: string): boolean
}

interface HopComponents {
  registrar: any
  connectionManager: any
  addressManager: any
  events: any
}

function isCircuit (conn: Connection): boolean {
  return conn.remoteAddr.toString().includes('/p2p-circuit')
}

class Hop implements HopServer {
  private readonly store: ReservationStore
  private readonly limits: CircuitLimits
  private readonly counters = { circuitsOpened: 0, circuitsRefused: 0, refusedByLimit: 0, bytesRelayed: 0 }
  private readonly live = new Set<{ counters: { aToB: number, bToA: number }, paused: () => boolean }>()
  private readonly shutdown = new AbortController()
  private sweep?: NodeJS.Timeout

  constructor (private readonly components: HopComponents, private readonly init: HopServerInit) {
    this.store = createReservationStore(init)
    this.limits = createCircuitLimits(init, { penalize: (peer, ms) => { this.penalize(peer, ms) } })
  }

  get reservations (): Map<string, HopReservation> {
    return this.store.reservations
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(HOP_PROTOCOL, (stream: Stream, conn: Connection) => {
      this.onHop(stream, conn).catch((err: Error) => { log('hop stream from %s failed: %s', conn.remotePeer, err.message); stream.abort(err) })
    }, { maxInboundStreams: HOP_MAX_STREAMS, maxOutboundStreams: HOP_MAX_STREAMS, runOnLimitedConnection: false })
    // a reservation lives only while its peer is connected: the count never exceeds live peers
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
    this.sweep = setInterval(() => {
      const now = Date.now()
      this.store.sweep(now)
      this.limits.sweep(now)
    }, HOP_SWEEP_INTERVAL)
    this.sweep.unref()
  }

  async stop (): Promise<void> {
    this.shutdown.abort(new Error('relay stopping'))
    clearInterval(this.sweep)
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect)
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)
    await this.components.registrar.unhandle(HOP_PROTOCOL)
    this.reservations.clear()
  }

  stats (): HopStats {
    let bytesInFlightCircuits = 0
    let pausedCircuits = 0
    for (const c of this.live) {
      bytesInFlightCircuits += c.counters.aToB + c.counters.bToA
      if (c.paused()) pausedCircuits++
    }
    const { circuitsOpened, circuitsRefused, refusedByLimit, bytesRelayed } = this.counters
    return {
      reservations: this.reservations.size,
      circuitsOpened,
      circuitsRefused,
      refusedByLimit,
      peersPenalized: this.limits.peersPenalized,
      bytesRelayed,
      activeCircuits: this.limits.active,
      bytesInFlightCircuits,
      pausedCircuits
    }
  }

  private readonly onDisconnect = (evt: any): void => {
    this.store.peerGone(evt.detail.toString())
  }

  private readonly onConnectionClose = (evt: any): void => {
    const conn: Connection = evt.detail
    this.store.connectionGone(conn.remotePeer.toString(), conn.id)
  }

  private limit (): PbLimit | undefined {
    const l = this.init.limits
    if (l?.dataBytes == null && l?.durationMs == null) return undefined
    return {
      ...(l.durationMs != null ? { duration: Math.ceil(l.durationMs / 1000) } : {}),
      ...(l.dataBytes != null ? { data: l.dataBytes } : {})
    }
  }

  isPenalized (peer: string): boolean {
    return this.limits.isPenalized(peer)
  }

  /** The limits put `peer` in the penalty box: disconnect it. */
  private penalize (peer: string, ms: number): void {
    log('peer %s keeps opening circuits past its rate limit: disconnected and refused for %d s', peer, Math.round(ms / 1000))
    this.init.onPenalty?.(peer, ms)
    for (const c of this.components.connectionManager.getConnections() as Connection[]) {
      if (c.remotePeer.toString() === peer) c.abort(new Error('circuit flood'))
    }
  }

  private async onHop (stream: Stream, conn: Connection): Promise<void> {
    if (this.isPenalized(conn.remotePeer.toString())) { stream.abort(new Error('peer is refused for flooding')); return }
    // a cancellable handshake deadline: nothing may abort the circuit once it is spliced
    const handshake = new AbortController()
    const timer = setTimeout(() => { handshake.abort(new Error('handshake timed out')) }, this.init.handshakeTimeout ?? HOP_HANDSHAKE_TIMEOUT)
    const onShutdown = (): void => { handshake.abort(new Error('relay stopping')) }
    this.shutdown.signal.addEventListener('abort', onShutdown, { once: true })
    try {
      await this.handleHop(stream, conn, handshake.signal, () => {
        clearTimeout(timer)
        this.shutdown.signal.removeEventListener('abort', onShutdown)
      })
    } finally {
      clearTimeout(timer)
      this.shutdown.signal.removeEventListener('abort', onShutdown)
    }
  }

  private async handleHop (stream: Stream, conn: Connection, signal: AbortSignal, handshakeDone: () => void): Promise<void> {
    let req: CircuitMessage
    let rest: Uint8Array
    try {
      ({ msg: req, rest } = await readMessage(stream, 'hop', signal))
    } catch (err: any) {
      if (stream.writeStatus === 'writable') send(stream, 'hop', { type: HopType.STATUS, status: Status.MALFORMED_MESSAGE })
      await stream.close().catch(() => {})
      return
    }
    if (req.type === HopType.RESERVE) { await this.reserve(stream, conn); return }
    if (req.type === HopType.CONNECT) { await this.connect(stream, conn, req, rest, signal, handshakeDone); return }
    send(stream, 'hop', { type: HopType.STATUS, status: Status.UNEXPECTED_MESSAGE })
    await stream.close().catch(() => {})
  }

  private async reserve (stream: Stream, conn: Connection): Promise<void> {
    const peer = conn.remotePeer.toString()
    const refuse = async (status: number, why: string): Promise<void> => {
      log('reservation for %s refused: %s', peer, why)
      send(stream, 'hop', { type: HopType.STATUS, status })
      await stream.close().catch(() => {})
    }
    if (isCircuit(conn)) { await refuse(Status.PERMISSION_DENIED, 'over a relayed connection'); return }
    if (this.init.canReserve != null && !this.init.canReserve(peer)) { await refuse(Status.PERMISSION_DENIED, 'not a member'); return }
    if (this.store.isFull(peer)) {
      this.counters.refusedByLimit++
      await refuse(Status.RESERVATION_REFUSED, 'reservation table full')
      return
    }
    // the peer may have gone while its request was in flight: a slot for a dead connection would never be freed
    if (conn.status !== 'open') { await refuse(Status.RESERVATION_REFUSED, 'connection closed'); return }
    const expire = this.store.reserve(peer, conn.id)
    const addrs = (this.components.addressManager.getAddresses() as any[])
      .filter(a => !a.toString().includes('/p2p-circuit'))
      .map(a => a.bytes as Uint8Array)
    send(stream, 'hop', {
      type: HopType.STATUS,
      status: Status.OK,
      reservation: { expire: BigInt(Math.floor(expire / 1000)), addrs },
      limit: this.limit()
    })
    await stream.close().catch(() => {})
    log('reserved a slot for %s', peer)
  }

  private async connect (stream: Stream, conn: Connection, req: CircuitMessage, rest: Uint8Array, signal: AbortSignal, handshakeDone: () => void): Promise<void> {
    const source = conn.remotePeer.toString()
    const refuse = async (status: number, why: string): Promise<void> => {
      this.counters.circuitsRefused++
      log('circuit from %s refused: %s', source, why)
      send(stream, 'hop', { type: HopType.STATUS, status })
      await stream.close().catch(() => {})
    }
    if (isCircuit(conn)) { await refuse(Status.PERMISSION_DENIED, 'over a relayed connection'); return }
    let dst: PeerId
    try {
      if (req.peer == null) throw new Error('no peer')
      dst = peerIdFromMultihash(Digest.decode(req.peer.id))
    } catch {
      await refuse(Status.MALFORMED_MESSAGE, 'bad destination')
      return
    }
    const destination = dst.toString()
    const overLimit = this.limits.refusal(source)
    if (overLimit != null) { this.counters.refusedByLimit++; await refuse(Status.RESOURCE_LIMIT_EXCEEDED, overLimit); return }
    if (this.init.canConnect != null && !this.init.canConnect(source, destination)) { await refuse(Status.PERMISSION_DENIED, `not allowed to ${destination}`); return }
    if (!this.reservations.has(destination)) { await refuse(Status.NO_RESERVATION, `${destination} has no reservation`); return }
    const dstConn = (this.components.connectionManager.getConnections(dst) as Connection[]).find(c => c.status === 'open' && !isCircuit(c))
    if (dstConn == null) { await refuse(Status.NO_RESERVATION, `${destination} is not connected`); return }

    this.limits.acquire(source)
    try {
      await this.open(stream, conn, dstConn, source, destination, rest, signal, handshakeDone, refuse)
    } finally {
      this.limits.release(source)
    }
  }

  private async open (stream: Stream, conn: Connection, dstConn: Connection, source: string, destination: string, rest: Uint8Array, signal: AbortSignal, handshakeDone: () => void, refuse: (status: number, why: string) => Promise<void>): Promise<void> {
    let stop: Stream
    let stopRest: Uint8Array
    try {
      stop = await dstConn.newStream(STOP_PROTOCOL, { runOnLimitedConnection: true, maxOutboundStreams: HOP_MAX_STREAMS, signal })
      send(stop, 'stop', { type: StopType.CONNECT, peer: { id: conn.remotePeer.toMultihash().bytes, addrs: [] }, limit: this.limit() })
      const reply = await readMessage(stop, 'stop', signal)
      if (reply.msg.status !== Status.OK) {
        stop.abort(new Error('stop refused'))
        // tell the source when the destination's gater refused it, so it can say "not authorized"
        await refuse(reply.msg.status === Status.PERMISSION_DENIED ? Status.PERMISSION_DENIED : Status.CONNECTION_FAILED, `destination answered ${reply.msg.status}`)
        return
      }
      stopRest = reply.rest
    } catch (err: any) {
      await refuse(Status.CONNECTION_FAILED, err.message)
      return
    }
    handshakeDone()
    send(stream, 'hop', { type: HopType.STATUS, status: Status.OK, limit: this.limit() })
    // bytes that arrived with the handshake messages go first
    if (rest.byteLength > 0) stream.unshift(rest)
    if (stopRest.byteLength > 0) stop.unshift(stopRest)
    this.counters.circuitsOpened++
    log('circuit %s -> %s open', source, destination)
    const limits = this.init.limits
    const circuitSignal = limits?.durationMs != null
      ? AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(limits.durationMs)])
      : this.shutdown.signal
    const counters = { aToB: 0, bToA: 0 }
    const entry = { counters, paused: () => stream.readStatus === 'paused' || stop.readStatus === 'paused' }
    this.live.add(entry)
    const result = await spliceStreams(stream, stop, {
      highWaterMark: this.init.highWaterMark,
      dataLimit: limits?.dataBytes,
      signal: circuitSignal,
      counters,
      connections: [conn, dstConn]
    }).finally(() => { this.live.delete(entry) })
    this.counters.bytesRelayed += result.aToB + result.bToA
    log('circuit %s -> %s closed (%d / %d bytes, %s)', source, destination, result.aToB, result.bToA, result.clean ? 'clean' : result.error?.message)
  }
}

/**
 * The relay's circuit relay v2 HOP server as a libp2p service: standard
 * protocol (stock js-libp2p and go-libp2p clients reserve and connect as
 * usual), membership checks on reservations and circuits, reservations tied
 * to live connections, a per-peer circuit rate limit, and a bounded,
 * backpressured splice ({@link spliceStreams}) instead of the stock relay's
 * leaking `pipe()`. Reservation vouchers are not issued (clients treat them
 * as optional).
 */
export function hopServer (init: HopServerInit = {}): (components: HopComponents) => HopServer {
  return (components) => new Hop(components, init)
}
