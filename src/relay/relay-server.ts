import { logger } from '@libp2p/logger'
import { createAuthorizedKeys } from '../auth/authorized-keys.js'
import { createConnectionGater } from '../auth/gater.js'
import { DEFAULT_RELAY_LISTEN } from '../constants.js'
import { loadIdentityFile } from '../auth/identity.js'
import { createNetwork } from '../network/network.js'
import { relayServerSchema } from '../config/schema.js'
import { registerState } from '../metrics/debug-state.js'
import { ConfigError } from '../errors.js'
import { explainListenError } from '../config/listen-error.js'
import { processStats } from '../metrics/process-stats.js'
import { startNameRegistry } from './name-registry.js'
import { serveMetrics } from '../metrics/metrics-http.js'
import { relayMetrics } from './relay-metrics.js'
import { serveStatusSocket } from './status-socket.js'
import type { MetricsHttp } from '../metrics/metrics-http.js'
import type { ProcessStats } from '../metrics/process-stats.js'
import type { StatusSocket } from './status-socket.js'
import { createStunServer } from './stun-server.js'
import { isWildcardHost, localAddresses, stunBindAddresses } from './stun-addresses.js'
import type { StunServer, StunStats } from './stun-server.js'
import type { AuthorizedKeys } from '../auth/authorized-keys.js'
import type { NameRegistry } from './name-registry.js'
import type { HopStats } from './hop/hop-server.js'
import type { LoadedConfig } from '../config/load.js'
import type { PeerupLibp2p } from '../network/network.js'

const log = logger('peerup:relay')

/** Init of {@link createRelayServer}. */
export interface RelayServerInit {
  /** The loaded relay config. */
  config: LoadedConfig
  /** Override the listen addresses. */
  listen?: string[]
  /** Lines an operator should see (a peer put in the penalty box); the CLI prints them on stderr. */
  onNotice?: (line: string) => void
}

/** A running relay. */
export interface RelayServer {
  readonly libp2p: PeerupLibp2p
  readonly peerId: string
  /** Members allowed to reserve and relay (undefined when gating is off). */
  readonly members?: AuthorizedKeys
  start (): Promise<void>
  stop (): Promise<void>
  /** Full listen multiaddrs, each ending in `/p2p/<id>`. */
  multiaddrs (): string[]
  /** The name registry's file. */
  readonly registryFile: string
  /** Number of live reservations. */
  reservationCount (): number
  /** Relay counters (reservations, circuits, bytes). */
  stats (): HopStats
  /** Counters, connections, memory and descriptors: what `peerup relay status` prints. */
  status (): RelayStatus
  /** The status socket's path, or undefined when it is off. */
  readonly statusSocket?: string
  /** The bound address of `/metrics` (`relay.metrics_listen`), or undefined when off. */
  metricsAddress (): string | undefined
  /** Re-read the members file (SIGHUP). */
  reloadAuth (): void
  /** The STUN responder: its UDP port, the addresses it answers on and its counters, or why it is not running. */
  stun (): { port?: number, addresses?: string[], error?: string, stats?: StunStats }
}

/** A relay's status (`peerup relay status --json`). */
export interface RelayStatus extends HopStats {
  peerId: string
  /** Open connections (all peers, relayed ones included). */
  connections: number
  /** Distinct peers connected. */
  peers: number
  process: ProcessStats
}

/**
 * Create the circuit relay v2 server of a network. Relay auth is on by
 * default: only members (the relay's authorized_keys) may connect, reserve
 * and open circuits; members get no data or duration limit unless the config
 * sets one; revoked members are disconnected.
 */
export async function createRelayServer (init: RelayServerInit): Promise<RelayServer> {
  const { config, path } = init.config
  const privateKey = loadIdentityFile(path(config.identity.key_file))
  const gating = config.security.enable_gating
  const members = gating ? createAuthorizedKeys({ file: path(config.security.authorized_keys_file) }) : undefined
  const relayCfg = config.relay ?? relayServerSchema.parse({})
  // eslint-disable-next-line prefer-const
  let libp2p: PeerupLibp2p
  const listen = init.listen ?? config.network.listen ?? DEFAULT_RELAY_LISTEN
  libp2p = await createNetwork({
    privateKey,
    listen,
    announce: config.network.announce,
    upnp: config.network.upnp,
    dht: config.network.dht,
    connectionGater: createConnectionGater({
      // a peer in the hop server's penalty box (a circuit flood) is refused like a stranger until it expires
      policy: { isAllowed: (peer) => (members?.isAuthorized(peer) ?? true) && (libp2p?.services as any)?.relay?.isPenalized?.(peer) !== true },
      enabled: gating,
      relay: true
    }),
    maxConnections: relayCfg.max_connections,
    maxPendingConnections: relayCfg.max_pending_connections,
    connectionsPerHostPerSecond: relayCfg.connections_per_host_per_second,
    relayServer: {
      maxCircuits: relayCfg.max_circuits,
      maxCircuitsPerPeer: relayCfg.max_circuits_per_peer,
      maxCircuitsPerPeerPerSecond: relayCfg.max_circuits_per_peer_per_second,
      penaltyMs: relayCfg.penalty_seconds * 1000,
      onPenalty: (peer, ms) => { init.onNotice?.(`relay: ${peer} keeps opening circuits past its rate limit: disconnected and refused for ${Math.round(ms / 1000)} s`) },
      maxReservations: relayCfg.max_reservations,
      reservationTtl: relayCfg.reservation_ttl_seconds * 1000,
      engine: relayCfg.engine,
      limits: {
        dataBytes: relayCfg.limits.data_bytes != null ? BigInt(relayCfg.limits.data_bytes) : undefined,
        durationMs: relayCfg.limits.duration_seconds != null ? relayCfg.limits.duration_seconds * 1000 : undefined
      }
    },
    allow: config.daemon.allow_hosts
  })
  members?.on('change', () => {
    for (const conn of libp2p.getConnections()) {
      if (members.isAuthorized(conn.remotePeer.toString())) continue
      log('closing connection of revoked member %s', conn.remotePeer.toString())
      conn.abort(new Error('member revoked'))
    }
  })
  let registry: NameRegistry | undefined
  let statusSocket: StatusSocket | undefined
  let metricsHttp: MetricsHttp | undefined
  let unregister: (() => void) | undefined
  const statusFile = relayCfg.status_socket === false ? undefined : path(relayCfg.status_socket)
  const stats = (): HopStats => (libp2p.services as any).relay?.stats?.() ?? { reservations: (libp2p.services as any).relay?.reservations?.size ?? 0, activeCircuits: 0, circuitsOpened: 0, circuitsRefused: 0, refusedByLimit: 0, peersPenalized: 0, bytesRelayed: 0, bytesInFlightCircuits: 0, pausedCircuits: 0 }
  // the status socket may GC first (with --expose-gc: comparable heap figures); a Prometheus scrape never does
  const status = (gc = false): RelayStatus => ({
    peerId: libp2p.peerId.toString(),
    ...stats(),
    connections: libp2p.getConnections().length,
    peers: libp2p.getPeers().length,
    process: processStats({ collectGarbage: gc })
  })
  let stun: StunServer | undefined
  let stunError: string | undefined = relayCfg.stun.enabled ? undefined : 'turned off (relay.stun.enabled: false)'
  return {
    libp2p,
    peerId: libp2p.peerId.toString(),
    members,
    registryFile: path(relayCfg.registry_file),
    statusSocket: statusFile,
    async start () {
      await Promise.resolve(libp2p.start()).catch((err: unknown) => { throw explainListenError(err, init.config, listen) })
      unregister = registerState('relay', status)
      if (statusFile != null) statusSocket = await serveStatusSocket({ file: statusFile, describe: () => status(true) })
      if (relayCfg.stun.enabled) {
        // nodes behind NAT learn their public UDP address here; without it the relay still relays
        try {
          const host = relayCfg.stun.host
          // unset: the TCP listen addresses, a wildcard expanded to each local address (stun-addresses.ts)
          stun = await createStunServer({
            port: relayCfg.stun.port,
            ...(host != null ? { host } : { hosts: () => stunBindAddresses(listen) }),
            ratePerSecond: relayCfg.stun.rate_per_second,
            burst: relayCfg.stun.burst
          })
          const mine = host != null && isWildcardHost(host) ? localAddresses(host === '0.0.0.0' ? 4 : 6) : []
          if (mine.length > 1) init.onNotice?.(`relay: relay.stun.host is ${host} on a host with ${mine.length} addresses (${mine.join(', ')}): STUN answers leave from the outgoing interface's address, and nodes behind NAT that asked at another one never get them; remove relay.stun.host to answer from each address`)
        } catch (err: any) {
          stunError = `cannot listen on ${String(err.message)}`
          log.error('STUN responder not started: %s', stunError)
        }
      }
      if (relayCfg.metrics_listen != null) {
        try {
          metricsHttp = await serveMetrics({ listen: relayCfg.metrics_listen, render: () => relayMetrics(status(), stun?.stats()) })
        } catch (err: any) {
          throw new ConfigError(`${init.config.file}: relay.metrics_listen ${relayCfg.metrics_listen}: ${String(err.message)}`, { file: init.config.file, keyPath: 'relay.metrics_listen' }, { cause: err })
        }
      }
      if (relayCfg.name_registry) {
        registry = await startNameRegistry({ libp2p, file: path(relayCfg.registry_file), isMember: (p) => members?.isAuthorized(p) ?? true })
      }
    },
    async stop () {
      unregister?.()
      await metricsHttp?.close()
      await statusSocket?.close()
      registry?.stop()
      await stun?.close()
      members?.close()
      await libp2p.stop()
    },
    multiaddrs () {
      return libp2p.getMultiaddrs().map(m => m.toString()).filter(a => !a.includes('/p2p-circuit'))
    },
    reservationCount () {
      return (libp2p.services as any).relay?.reservations?.size ?? 0
    },
    stats,
    status,
    reloadAuth () { members?.reload() },
    metricsAddress () { return metricsHttp?.address },
    stun () {
      return stun != null ? { port: stun.port, addresses: stun.addresses(), stats: stun.stats() } : { error: stunError }
    }
  }
}
