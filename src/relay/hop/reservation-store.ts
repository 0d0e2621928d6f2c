import { RELAY_MAX_RESERVATIONS, RELAY_RESERVATION_TTL } from '../../constants.js'

/**
 * The HOP server's reservations: one per peer, tied to the connection it
 * was made on, with a cap and a lifetime.
 */

/** A live reservation. */
export interface HopReservation {
  peer: string
  expire: number
  /** The connection the reservation was made on; it ends with that connection. */
  connectionId: string
}

/** Init of {@link createReservationStore}. */
export interface ReservationStoreInit {
  /**
   * Maximum live reservations.
   *
   * @default 1024
   */
  maxReservations?: number
  /**
   * Reservation lifetime (ms).
   *
   * @default 7200000
   */
  reservationTtl?: number
}

/** Reservations by peer ID. */
export interface ReservationStore {
  /** Live reservations, by peer ID. */
  readonly reservations: Map<string, HopReservation>
  /** Would a new reservation for `peer` exceed the cap? (A peer that holds one may renew it.) */
  isFull: (peer: string) => boolean
  /** Reserve (or renew) a slot for `peer` on connection `connectionId`; returns its expiry (ms since the epoch). */
  reserve: (peer: string, connectionId: string) => number
  /** The peer disconnected: its reservation ends. */
  peerGone: (peer: string) => void
  /** A connection closed: the reservation made on it ends. */
  connectionGone: (peer: string, connectionId: string) => void
  /** Drop the expired reservations. */
  sweep: (now: number) => void
}

/** Create an empty reservation store. */
export function createReservationStore (init: ReservationStoreInit = {}): ReservationStore {
  const reservations = new Map<string, HopReservation>()
  const max = init.maxReservations ?? RELAY_MAX_RESERVATIONS
  const ttl = init.reservationTtl ?? RELAY_RESERVATION_TTL
  return {
    reservations,
    isFull: (peer) => !reservations.has(peer) && reservations.size >= max,
    reserve: (peer, connectionId) => {
      const expire = Date.now() + ttl
      reservations.set(peer, { peer, expire, connectionId })
      return expire
    },
    peerGone: (peer) => { reservations.delete(peer) },
    connectionGone: (peer, connectionId) => {
      if (reservations.get(peer)?.connectionId === connectionId) reservations.delete(peer)
    },
    sweep: (now) => {
      for (const [peer, r] of reservations) if (r.expire <= now) reservations.delete(peer)
    }
  }
}
