import { HOP_RATE_BUCKET_IDLE, RELAY_MAX_CIRCUITS, RELAY_MAX_CIRCUITS_PER_PEER, RELAY_MAX_CIRCUITS_PER_PEER_PER_SECOND, RELAY_PENALTY } from '../../constants.js'

/**
 * The HOP server's circuit limits: a token bucket per source peer, circuits
 * open at once (in total and per source peer), and the penalty box for a
 * peer that keeps asking after the rate limit refused it.
 */

/** Init of {@link createCircuitLimits}. */
export interface CircuitLimitsInit {
  /**
   * Circuits one source peer may open per second, sustained (bursts of twice this).
   *
   * @default 20
   */
  maxCircuitsPerPeerPerSecond?: number
  /**
   * Most circuits open at once.
   *
   * @default 1024
   */
  maxCircuits?: number
  /**
   * Most circuits one source peer may have open at once.
   *
   * @default 64
   */
  maxCircuitsPerPeer?: number
  /**
   * How long a flooding peer is refused (ms); 0 turns the penalty box off.
   *
   * @default 60000
   */
  penaltyMs?: number
}

/** What the limits call out to. */
export interface CircuitLimitsComponents {
  /** A peer was just put in the penalty box for `ms`: disconnect it. */
  penalize: (peer: string, ms: number) => void
}

/** Circuit limits of one relay. */
export interface CircuitLimits {
  /** Circuits open now. */
  readonly active: number
  /** Peers put in the penalty box since start. */
  readonly peersPenalized: number
  /**
   * May `source` open one more circuit? Returns why not, or undefined. Each
   * call takes a token from the peer's bucket; deep debt puts it in the
   * penalty box.
   */
  refusal: (source: string) => string | undefined
  /** A circuit from `source` opens (after {@link refusal} let it). */
  acquire: (source: string) => void
  /** A circuit from `source` closed. */
  release: (source: string) => void
  /** Is this peer in the penalty box? */
  isPenalized: (peer: string) => boolean
  /** Forget idle buckets and served penalties. */
  sweep: (now: number) => void
}

/** Create the circuit limits. */
export function createCircuitLimits (init: CircuitLimitsInit, components: CircuitLimitsComponents): CircuitLimits {
  const rate = new Map<string, { tokens: number, last: number }>()
  const penalty = new Map<string, number>()
  const bySource = new Map<string, number>()
  let active = 0
  let peersPenalized = 0

  const isPenalized = (peer: string): boolean => {
    const until = penalty.get(peer)
    if (until == null) return false
    if (until > Date.now()) return true
    penalty.delete(peer)
    return false
  }

  const penalize = (peer: string): void => {
    const ms = init.penaltyMs ?? RELAY_PENALTY
    if (ms <= 0 || isPenalized(peer)) return
    penalty.set(peer, Date.now() + ms)
    peersPenalized++
    components.penalize(peer, ms)
  }

  /** Token bucket per source peer: `rate` circuits per second, bursts of twice that. */
  const allowRate = (peer: string): boolean => {
    const perSecond = init.maxCircuitsPerPeerPerSecond ?? RELAY_MAX_CIRCUITS_PER_PEER_PER_SECOND
    const burst = 2 * perSecond
    const now = Date.now()
    const b = rate.get(peer) ?? { tokens: burst, last: now }
    b.tokens = Math.min(burst, b.tokens + (now - b.last) / 1000 * perSecond)
    b.last = now
    rate.set(peer, b)
    // refusals go into debt; deep debt means the peer ignores the refusals
    b.tokens--
    if (b.tokens >= 0) return true
    if (b.tokens < -2 * burst) { penalize(peer); b.tokens = 0 }
    return false
  }

  return {
    get active () { return active },
    get peersPenalized () { return peersPenalized },
    refusal: (source) => {
      if (!allowRate(source)) return 'too many circuits per second'
      if (active >= (init.maxCircuits ?? RELAY_MAX_CIRCUITS)) return 'too many circuits on this relay'
      if ((bySource.get(source) ?? 0) >= (init.maxCircuitsPerPeer ?? RELAY_MAX_CIRCUITS_PER_PEER)) return 'too many circuits from this peer'
      return undefined
    },
    acquire: (source) => {
      bySource.set(source, (bySource.get(source) ?? 0) + 1)
      active++
    },
    release: (source) => {
      active--
      const n = (bySource.get(source) ?? 1) - 1
      if (n <= 0) bySource.delete(source); else bySource.set(source, n)
    },
    isPenalized,
    sweep: (now) => {
      for (const [peer, b] of rate) if (now - b.last > HOP_RATE_BUCKET_IDLE) rate.delete(peer)
      for (const [peer, until] of penalty) if (until <= now) penalty.delete(peer)
    }
  }
}
