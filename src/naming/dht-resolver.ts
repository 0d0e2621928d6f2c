import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { parsePeerId } from '../auth/identity.js'
import { NAME_DHT_ATTEMPTS, NAME_DHT_RETRY_INTERVAL, NAME_DHT_TIMEOUT } from '../constants.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { NameResolver, ResolvedName } from './resolver.js'
import type { AbortOptions } from '@libp2p/interface'

const log = logger('peerup:names:dht')

/** Init of {@link dhtResolver}. */
export interface DhtResolverInit {
  libp2p: PeerupLibp2p
  /** Relays to connect to first: they are the DHT's bootstrap (server-mode) peers. */
  bootstrap: string[]
  /**
   * Timeout of one lookup (ms).
   *
   * @default 5000
   */
  timeoutMs?: number
}

/** Find the current addresses of a peer through the private DHT. */
export async function findPeerAddrs (init: DhtResolverInit, peerId: string, options?: AbortOptions): Promise<string[]> {
  const { libp2p } = init
  if ((libp2p.services as any).dht == null) return []
  const signal = AbortSignal.any([AbortSignal.timeout(init.timeoutMs ?? NAME_DHT_TIMEOUT), ...(options?.signal != null ? [options.signal] : [])])
  // make sure the bootstrap peers are connected, so the routing table is not empty
  await Promise.allSettled(init.bootstrap.map(async b => await libp2p.dial(multiaddr(b), { signal })))
  const id = parsePeerId(peerId)
  for (let attempt = 0; attempt < NAME_DHT_ATTEMPTS && !signal.aborted; attempt++) {
    try {
      const info = await libp2p.peerRouting.findPeer(id, { signal })
      const addrs = info.multiaddrs.map(m => m.toString()).filter(a => !a.includes('/p2p-circuit'))
      if (addrs.length > 0) return addrs
    } catch (err: any) {
      log('findPeer %s: %s', peerId, err.message)
    }
    // the routing table fills once identify has run on the bootstrap connections
    await new Promise(resolve => setTimeout(resolve, NAME_DHT_RETRY_INTERVAL))
  }
  return []
}

/**
 * Tier 3: the private Kademlia DHT. It answers for literal peer IDs with the
 * peer's current addresses (peer routing); names stay with the tiers above,
 * and a DHT answer never overrides them.
 */
export function dhtResolver (init: DhtResolverInit): NameResolver {
  return {
    label: 'dht',
    async resolve (name: string, options?: AbortOptions): Promise<ResolvedName | undefined> {
      let peerId: string
      try { peerId = parsePeerId(name).toString() } catch { return undefined }
      const addrs = await findPeerAddrs(init, peerId, options)
      if (addrs.length === 0) return undefined
      return { name, peerId, addrs, source: 'dht', via: 'dht' }
    }
  }
}
