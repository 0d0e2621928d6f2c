import { logger } from '@libp2p/logger'
import { isMeshAddress } from '../network/mesh-range.js'
import type { ConnectionGater, PeerId } from '@libp2p/interface'

const log = logger('peerup:gater')

/** Decides which peers a node talks to. */
export interface PeerPolicy {
  /** Whether `peerId` may connect at all (union of global and per-service grants). */
  isAllowed (peerId: string): boolean
}

/** Init of {@link createConnectionGater}. */
export interface ConnectionGaterInit {
  /** The allow-list. */
  policy: PeerPolicy
  /**
   * Peers that are always allowed: the node's own relays (for the relay
   * connection itself).
   *
   * @default []
   */
  alwaysAllow?: () => Iterable<string>
  /**
   * When false, everyone is allowed (for open test networks). With gating on,
   * an empty allow-list denies everyone.
   *
   * @default true
   */
  enabled?: boolean
  /**
   * Relay server mode: also gate reservations and circuits on membership of
   * both ends.
   *
   * @default false
   */
  relay?: boolean
  /** Called on every denial, for counters and tests. */
  onDeny?: (peerId: string, where: string) => void
}

/**
 * The authorized_keys connection gater. It checks both directions: inbound
 * and outbound encrypted connections, inbound relayed connections, and (on a
 * relay) reservations and circuits. Denials are logged with the peer ID.
 */
export function createConnectionGater (init: ConnectionGaterInit): ConnectionGater {
  const enabled = init.enabled ?? true
  const allowed = (peer: PeerId | string): boolean => {
    if (!enabled) return true
    const id = peer.toString()
    if (init.alwaysAllow != null) {
      for (const a of init.alwaysAllow()) if (a === id) return true
    }
    return init.policy.isAllowed(id)
  }
  const deny = (peer: PeerId | string, where: string): boolean => {
    if (allowed(peer)) return false
    log('denied %s: %s', where, peer.toString())
    init.onDeny?.(peer.toString(), where)
    return true
  }
  const gater: ConnectionGater = {
    denyInboundEncryptedConnection: (peerId) => deny(peerId, 'inbound connection'),
    denyOutboundEncryptedConnection: (peerId) => deny(peerId, 'outbound connection'),
    denyInboundRelayedConnection: (_relay, remotePeer) => deny(remotePeer, 'inbound relayed connection'),
    denyDialPeer: (peerId) => deny(peerId, 'dial'),
    // never a libp2p connection into the mesh range: with TUN mode on it would
    // ride the mesh it is meant to carry (see mesh-range.ts)
    denyDialMultiaddr: (ma) => {
      if (!isMeshAddress(ma)) return false
      log('denied dial to %s: an address in the mesh range', ma.toString())
      return true
    }
  }
  if (init.relay === true) {
    gater.denyInboundRelayReservation = (source) => deny(source, 'relay reservation')
    gater.denyOutboundRelayedConnection = (source, destination) => deny(source, 'relay circuit (source)') || deny(destination, 'relay circuit (destination)')
  }
  return gater
}
