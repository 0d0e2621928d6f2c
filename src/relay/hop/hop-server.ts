import { logger } from '@libp2p/logger'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import { decodeMessage, encodeMessage, HopType, lengthPrefixed, Status, StopType, takeLengthPrefixed } from './circuit-pb.js'
import { spliceStreams } from '../../tunnels/stream-splice.js'
import type { CircuitMessage, PbLimit } from './circuit-pb.js'
import type { Connection, PeerId, Startable, Stream } from '@libp2p/interface'

const log = logger('peerup:relay:hop')

/** Protocol IDs of circuit relay v2. */
export const HOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/hop'
export const STOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/stop'
const MAX_MESSAGE = 4096

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

/** A live reservation. */
export interface HopReservation {
  peer: string
  expire: number
  /** The connection the reservation was made on; it ends with that connection. */
  connectionId: string
}

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

/** Read one length-prefixed circuit message; returns it and any bytes read past it. */
async function readMessage (stream: Stream, kind: 'hop' | 'stop', signal: AbortSignal): Promise<{ msg: CircuitMessage, rest: Uint8Array }> {
  return await new Promise((resolve, reject) => {
    let buf = new Uint8Array(0)
    const done = (err?: Error, value?: { msg: CircuitMessage, rest: Uint8Array }): void => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onAbort)
      // hold further data until the splice attaches its listeners
      try { if (stream.readStatus === 'readable') stream.pause() } catch {}
      if (err != null) reject(err); else resolve(value!)
    }
    const onMessage = (evt: any): void => {
      const chunk: Uint8Array = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      const next = new Uint8Array(buf.byteLength + chunk.byteLength)
      next.set(buf, 0)
      next.set(chunk, buf.byteLength)
      buf = next
      try {
        const got = takeLengthPrefixed(buf, MAX_MESSAGE)
        if (got != null) done(undefined, { msg: decodeMessage(kind, got.message), rest: got.rest })
      } catch (err: any) {
        done(err)
      }
    }
    const onClose = (): void => { done(new Error('stream closed before a message arrived')) }
    const onAbort = (): void => { done(new Error('handshake timed out')) }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', onClose)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

function send (stream: Stream, kind: 'hop' | 'stop', msg: CircuitMessage): void {
  stream.send(lengthPrefixed(encodeMessage(kind, msg)))
}

function isCircuit (conn: Connection): boolean {
  return conn.remoteAddr.toString().includes('/p2p-circuit')
}

class Hop implements HopServer {
  readonly reservations = new Map<string, HopReservation>()
  private readonly counters = { circuitsOpened: 0, circuitsRefused: 0, refusedByLimit: 0, peersPenalized: 0, bytesRelayed: 0, activeCircuits: 0 }
  private readonly penalty = new Map<string, number>()
  private readonly bySource = new Map<string, number>()
  private readonly live = new Set<{ counters: { aToB: number, bToA: number }, paused: () => boolean }>()
  private readonly shutdown = new AbortController()
  private readonly rate = new Map<string, { tokens: number, last: number }>()
  private sweep?: NodeJS.Timeout

  constructor (private readonly components: HopComponents, private readonly init: HopServerInit) {}

  async start (): Promise<void> {
    await this.components.registrar.handle(HOP_PROTOCOL, (stream: Stream, conn: Connection) => {
      this.onHop(stream, conn).catch((err: Error) => { log('hop stream from %s failed: %s', conn.remotePeer, err.message); stream.abort(err) })
    }, { maxInboundStreams: 4096, maxOutboundStreams: 4096, runOnLimitedConnection: false })
    // a reservation lives only while its peer is connected: the count never exceeds live peers
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
    this.sweep = setInterval(() => {
      const now = Date.now()
      for (const [peer, r] of this.reservations) if (r.expire <= now) this.reservations.delete(peer)
      for (const [peer, b] of this.rate) if (now - b.last > 60_000) this.rate.delete(peer)
      for (const [peer, until] of this.penalty) if (until <= now) this.penalty.delete(peer)
    }, 60_000)
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
    return { reservations: this.reservations.size, ...this.counters, bytesInFlightCircuits, pausedCircuits }
  }

  private readonly onDisconnect = (evt: any): void => {
    this.reservations.delete(evt.detail.toString())
  }

  private readonly onConnectionClose = (evt: any): void => {
    const conn: Connection = evt.detail
    const peer = conn.remotePeer.toString()
    if (this.reservations.get(peer)?.connectionId === conn.id) this.reservations.delete(peer)
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
    const until = this.penalty.get(peer)
    if (until == null) return false
    if (until > Date.now()) return true
    this.penalty.delete(peer)
    return false
  }

  private penalize (peer: string): void {
    const ms = this.init.penaltyMs ?? 60_000
    if (ms <= 0 || this.isPenalized(peer)) return
    this.penalty.set(peer, Date.now() + ms)
    this.counters.peersPenalized++
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
    const timer = setTimeout(() => { handshake.abort(new Error('handshake timed out')) }, this.init.handshakeTimeout ?? 10_000)
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
    if (!this.reservations.has(peer) && this.reservations.size >= (this.init.maxReservations ?? 1024)) {
      this.counters.refusedByLimit++
      await refuse(Status.RESERVATION_REFUSED, 'reservation table full')
      return
    }
    // the peer may have gone while its request was in flight: a slot for a dead connection would never be freed
    if (conn.status !== 'open') { await refuse(Status.RESERVATION_REFUSED, 'connection closed'); return }
    const expire = Date.now() + (this.init.reservationTtl ?? 2 * 60 * 60 * 1000)
    this.reservations.set(peer, { peer, expire, connectionId: conn.id })
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

  /** Token bucket per source peer: `rate` circuits per second, bursts of twice that. */
  private allowRate (peer: string): boolean {
    const rate = this.init.maxCircuitsPerPeerPerSecond ?? 20
    const burst = 2 * rate
    const now = Date.now()
    const b = this.rate.get(peer) ?? { tokens: burst, last: now }
    b.tokens = Math.min(burst, b.tokens + (now - b.last) / 1000 * rate)
    b.last = now
    this.rate.set(peer, b)
    // refusals go into debt; deep debt means the peer ignores the refusals
    b.tokens--
    if (b.tokens >= 0) return true
    if (b.tokens < -2 * burst) { this.penalize(peer); b.tokens = 0 }
    return false
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
    if (!this.allowRate(source)) { this.counters.refusedByLimit++; await refuse(Status.RESOURCE_LIMIT_EXCEEDED, 'too many circuits per second'); return }
    if (this.counters.activeCircuits >= (this.init.maxCircuits ?? 1024)) { this.counters.refusedByLimit++; await refuse(Status.RESOURCE_LIMIT_EXCEEDED, 'too many circuits on this relay'); return }
    if ((this.bySource.get(source) ?? 0) >= (this.init.maxCircuitsPerPeer ?? 64)) { this.counters.refusedByLimit++; await refuse(Status.RESOURCE_LIMIT_EXCEEDED, 'too many circuits from this peer'); return }
    if (this.init.canConnect != null && !this.init.canConnect(source, destination)) { await refuse(Status.PERMISSION_DENIED, `not allowed to ${destination}`); return }
    if (!this.reservations.has(destination)) { await refuse(Status.NO_RESERVATION, `${destination} has no reservation`); return }
    const dstConn = (this.components.connectionManager.getConnections(dst) as Connection[]).find(c => c.status === 'open' && !isCircuit(c))
    if (dstConn == null) { await refuse(Status.NO_RESERVATION, `${destination} is not connected`); return }

    this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1)
    this.counters.activeCircuits++
    try {
      await this.open(stream, conn, dstConn, source, destination, rest, signal, handshakeDone, refuse)
    } finally {
      this.counters.activeCircuits--
      const n = (this.bySource.get(source) ?? 1) - 1
      if (n <= 0) this.bySource.delete(source); else this.bySource.set(source, n)
    }
  }

  private async open (stream: Stream, conn: Connection, dstConn: Connection, source: string, destination: string, rest: Uint8Array, signal: AbortSignal, handshakeDone: () => void, refuse: (status: number, why: string) => Promise<void>): Promise<void> {
    let stop: Stream
    let stopRest: Uint8Array
    try {
      stop = await dstConn.newStream(STOP_PROTOCOL, { runOnLimitedConnection: true, maxOutboundStreams: 4096, signal })
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
