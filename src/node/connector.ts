/**
 * Resolve and connect: the node's name resolver chain (names file, relays'
 * registries with their cache, the DHT, extra tiers, literal peer IDs) and
 * the dial on the preferred path, which hands relayed connections to the
 * background direct upgrade.
 */
import { NAME_CACHE_FILE } from '../constants.js'
import { NotAuthorizedError } from '../errors.js'
import { cachedResolver } from '../naming/cached-resolver.js'
import { dhtResolver, findPeerAddrs } from '../naming/dht-resolver.js'
import { localFileResolver } from '../naming/local-file-resolver.js'
import { peerIdResolver } from '../naming/peer-id-resolver.js'
import { relayResolver } from '../naming/relay-resolver.js'
import { resolveChain } from '../naming/resolver.js'
import { dialableRemoteAddrs, isLoopbackAddr } from '../network/loopback-addrs.js'
import { connectToPeer } from '../paths/dialer.js'
import { pathOf } from '../paths/path-facts.js'
import type { LoadedConfig } from '../config/load.js'
import type { ChainResult, NameResolver } from '../naming/resolver.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { DirectUpgrader } from '../paths/direct-upgrade.js'
import type { PathInfo } from '../paths/path-facts.js'
import type { PathManager } from '../paths/path-manager.js'
import type { TunnelOptions } from './peerup-node.js'
import type { AbortOptions, Connection } from '@libp2p/interface'

/** Init of {@link createConnector}. */
export interface ConnectorInit {
  libp2p: PeerupLibp2p
  config: LoadedConfig
  /** Whether our own gater lets us talk to a peer. */
  mayConnect: (peer: string) => boolean
  paths: PathManager
  upgrader: DirectUpgrader
  /** Extra resolver tiers inserted after the names file. @default [] */
  resolvers?: NameResolver[]
}

/** A connection with its peer and path. */
export interface Connected {
  connection: Connection
  peerId: string
  path: PathInfo
}

/** See {@link createConnector}. */
export interface Connector {
  /** Resolve a name (tier chain, first hit wins). */
  resolve: (name: string, options?: AbortOptions) => Promise<ChainResult>
  /** Resolve and connect on the preferred path. */
  connect: (target: string, options?: TunnelOptions) => Promise<Connected>
}

/** Create the resolver chain and the dial of a node. */
export function createConnector (init: ConnectorInit): Connector {
  const { libp2p, paths, upgrader } = init
  const { config } = init.config
  const relays = config.relays
  /** One of our relays is on this host: the same-host hint for a remote's loopback addresses. */
  const sameHostRelay = [...config.relays, ...Object.values(config.networks).flatMap(n => n.relays)].some(isLoopbackAddr)
  // the cache is shared through a file by one-shot runs of a config file; a config object writes nothing
  const fromFile = init.config.file !== ''
  const dhtTier = config.network.dht ? dhtResolver({ libp2p, bootstrap: config.relays }) : undefined
  const resolvers: NameResolver[] = [
    localFileResolver({ file: init.config.path(config.names_file), network: config.network.name }),
    cachedResolver(relayResolver({
      libp2p,
      network: config.network.name,
      relaysFor: (network) => network === config.network.name ? config.relays : (config.networks[network]?.relays ?? [])
    }), { file: fromFile ? init.config.path(NAME_CACHE_FILE) : undefined }),
    ...(dhtTier != null ? [dhtTier] : []),
    ...(init.resolvers ?? []),
    peerIdResolver()
  ]

  /** A learned answer without the remote's loopback addresses unless it is on this host; the names file's addresses as written. */
  const dialable = (r: ChainResult): ChainResult => {
    if (r.source === 'local') return r
    const { addrs, dropped } = dialableRemoteAddrs(r.addrs, { sameHostRelay })
    return dropped.length > 0 ? { ...r, addrs, droppedAddrs: dropped } : r
  }

  return {
    resolve: async (name, options) => dialable(await resolveChain(name, resolvers, options)),
    connect: async (target, options = {}) => {
      // a literal peer ID with relays to try: no DHT lookup first (up to 5 s for a peer
      // behind NAT, whose DHT addresses are private anyway); the relay dial starts at
      // once and the background upgrade looks for a direct path
      const viaRelay = relays.length > 0 && options.path !== 'direct'
      const tiers = viaRelay ? resolvers.filter(t => t !== dhtTier) : resolvers
      const resolved = dialable(await resolveChain(target, tiers, options))
      // our own gater would refuse the dial with a message about libp2p internals
      if (!init.mayConnect(resolved.peerId)) throw new NotAuthorizedError(`${target} is not in your authorized_keys; run: peerup auth add ${resolved.peerId}`)
      let addrs = resolved.addrs
      if (addrs.length === 0 && config.network.dht && (options.path === 'direct' || relays.length === 0)) {
        // peer routing through the DHT: the current addresses of a known peer
        addrs = dialableRemoteAddrs(await findPeerAddrs({ libp2p, bootstrap: relays }, resolved.peerId, options), { sameHostRelay }).addrs
      }
      const connection = await connectToPeer(libp2p, { peerId: resolved.peerId, name: target, addrs }, {
        path: options.path,
        relays,
        signal: options.signal,
        prefer: config.paths.prefer,
        exclude: (c) => paths.avoid(c)
      })
      const path = pathOf(connection)
      if ((options.path ?? 'auto') === 'auto') {
        if (path.path === 'relayed') {
          // reached over a relay: look for a direct path in the background (TCP to the
          // remote's announced or LAN addresses, and UDP hole punching); this connection
          // and the tunnels on it stay as they are
          void upgrader.upgrade(connection)
          paths.relayed(resolved.peerId, connection)
        } else {
          // direct: close the relayed loser of the race once it carries no tunnels
          upgrader.retireRelayed(connection.remotePeer)
        }
      }
      return { connection, peerId: resolved.peerId, path }
    }
  }
}
