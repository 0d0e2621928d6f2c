import { EventEmitter } from 'node:events'
import { logger } from '@libp2p/logger'
import { looksRefused } from '../paths/dialer.js'
import { peerIdOfAddr, relayPeerIdOf, reservationAddr } from '../paths/path-facts.js'
import { RESERVATION_CHECK_INTERVAL, RESERVATION_RETRY_MAX, RESERVATION_RETRY_MIN } from '../constants.js'
import type { PeerupLibp2p } from '../network/network.js'

const log = logger('peerup:reservations')

/** Init of {@link createReservationWatchdog}. */
export interface ReservationWatchdogInit {
  /** Relay multiaddrs, each ending in `/p2p/<relay-id>`. */
  relays: string[]
  /**
   * How often to check each relay (ms).
   *
   * @default 2000
   */
  checkInterval?: number
  /**
   * First retry delay (ms); doubles up to `maxDelay`, with ±30% jitter.
   *
   * @default 500
   */
  minDelay?: number
  /**
   * Largest retry delay (ms).
   *
   * @default 5000
   */
  maxDelay?: number
  /** Called each time a reservation on `relay` comes up (after a start or a relay restart). */
  onReserved?: (relay: string) => void
}

/**
 * One line for a failed reservation: libp2p packs the per-address listen
 * errors, with their stacks, into one multi-line message; keep the first
 * per-address reason (e.g. `Error: connect ECONNREFUSED 127.0.0.1:7777`).
 */
function oneLineError (err: any): string {
  const msg = String(err?.message ?? err)
  const perAddress = /^\s+\/\S+: (.+)$/m.exec(msg)
  return (perAddress?.[1] ?? msg.split('\n')[0]).trim()
}

/** State of one relay reservation. */
export interface ReservationState {
  relay: string
  reserved: boolean
  lastError?: string
  attempts: number
}

/** Events of a {@link ReservationWatchdog}, each with the relay's multiaddr first. */
export interface ReservationEvents {
  /** A reservation came up (after a start, a loss or a relay restart). */
  reserved: [relay: string]
  /** A reservation we held is gone (the relay hung up or restarted); retries follow. */
  lost: [relay: string]
  /** An attempt to reserve failed; `error` is one readable line, `attempts` counts since start. */
  failed: [relay: string, error: string, attempts: number]
}

/** Keeps a reservation on every configured relay (js-libp2p#3601), and says so: see {@link ReservationEvents}. */
export interface ReservationWatchdog extends EventEmitter<ReservationEvents> {
  start (): void
  stop (): void
  /** Current state per relay. */
  state (): ReservationState[]
  /** Resolves when every relay has a reservation, or the signal fires. */
  waitReserved (signal?: AbortSignal): Promise<void>
}

/**
 * Create the reservation watchdog: a relay that is down at start-up or
 * restarts later is retried with exponential backoff and jitter, re-dialed,
 * and listened on again via `/p2p-circuit`.
 */
export function createReservationWatchdog (libp2p: PeerupLibp2p, init: ReservationWatchdogInit): ReservationWatchdog {
  const checkInterval = init.checkInterval ?? RESERVATION_CHECK_INTERVAL
  const minDelay = init.minDelay ?? RESERVATION_RETRY_MIN
  const maxDelay = init.maxDelay ?? RESERVATION_RETRY_MAX
  const states = new Map<string, ReservationState & { timer?: NodeJS.Timeout, delay: number, busy: boolean }>()
  let running = false
  const waiters = new Set<() => void>()
  const events = new EventEmitter<ReservationEvents>()
  const up = (s: ReservationState): void => {
    init.onReserved?.(s.relay)
    events.emit('reserved', s.relay)
  }
  const lost = (s: ReservationState): void => {
    log('reservation on %s lost', s.relay)
    s.reserved = false
    events.emit('lost', s.relay)
  }

  const relayId = (addr: string): string => peerIdOfAddr(addr) ?? ''
  const hasReservation = (addr: string): boolean => {
    const id = relayId(addr)
    // a reservation shows as a circuit address of ours through that relay
    return libp2p.getMultiaddrs().some(ma => relayPeerIdOf(ma) === id) &&
      libp2p.getConnections().some(c => c.remotePeer.toString() === id && c.status === 'open')
  }
  const notify = (): void => {
    if ([...states.values()].every(s => s.reserved)) for (const w of waiters) w()
  }
  const schedule = (s: ReservationState & { timer?: NodeJS.Timeout, delay: number, busy: boolean }, ms: number): void => {
    if (!running) return
    clearTimeout(s.timer)
    s.timer = setTimeout(() => { void check(s) }, ms)
    s.timer.unref?.()
  }
  const check = async (s: ReservationState & { timer?: NodeJS.Timeout, delay: number, busy: boolean }): Promise<void> => {
    if (!running || s.busy) return
    if (hasReservation(s.relay)) {
      if (!s.reserved) {
        log('reservation on %s is up', s.relay)
        up(s)
      }
      s.reserved = true
      s.delay = minDelay
      s.lastError = undefined
      notify()
      schedule(s, checkInterval)
      return
    }
    if (s.reserved) lost(s)
    s.busy = true
    s.attempts++
    try {
      const tm = (libp2p as any).components.transportManager
      await tm.listen([reservationAddr(s.relay)])
      // the listener resolves once the reservation is made
      s.reserved = hasReservation(s.relay)
      if (s.reserved) {
        log('reserved a slot on %s', s.relay)
        up(s)
        s.delay = minDelay
        s.lastError = undefined
        notify()
      }
    } catch (err: any) {
      // a relay whose gater refuses us hangs up right after the handshake
      s.lastError = await looksRefused(libp2p, err, relayId(s.relay))
        ? 'the relay hung up right after the handshake (is this peer a member of the relay?)'
        : oneLineError(err)
      log('reservation on %s failed: %s', s.relay, err.message)
      if (running) events.emit('failed', s.relay, s.lastError, s.attempts)
    } finally {
      s.busy = false
    }
    if (s.reserved) {
      schedule(s, checkInterval)
    } else {
      const jitter = 0.7 + Math.random() * 0.6
      schedule(s, Math.round(s.delay * jitter))
      s.delay = Math.min(maxDelay, s.delay * 2)
    }
  }
  const onDisconnect = (evt: any): void => {
    const id = evt.detail?.toString()
    for (const s of states.values()) {
      if (relayId(s.relay) === id) {
        if (s.reserved) lost(s)
        schedule(s, Math.round(minDelay * (0.5 + Math.random())))
      }
    }
  }

  return Object.assign(events, {
    start () {
      running = true
      for (const relay of init.relays) {
        const s = { relay, reserved: false, attempts: 0, delay: minDelay, busy: false }
        states.set(relay, s)
        schedule(s, 0)
      }
      libp2p.addEventListener('peer:disconnect', onDisconnect)
    },
    stop () {
      running = false
      libp2p.removeEventListener('peer:disconnect', onDisconnect)
      for (const s of states.values()) clearTimeout(s.timer)
      for (const w of waiters) w()
    },
    state () {
      return [...states.values()].map(s => ({ relay: s.relay, reserved: s.reserved, lastError: s.lastError, attempts: s.attempts }))
    },
    async waitReserved (signal?: AbortSignal) {
      if ([...states.values()].every(s => s.reserved)) return
      await new Promise<void>((resolve) => {
        const done = (): void => { waiters.delete(done); signal?.removeEventListener('abort', done); resolve() }
        waiters.add(done)
        signal?.addEventListener('abort', done, { once: true })
      })
    }
  })
}
