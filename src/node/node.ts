/**
 * Assembly of a peerup node: identity, allow-lists and gater, the libp2p
 * network, the service registry, path policy, the reservation watchdog and
 * the resolver chain, wired into one {@link PeerupNode}. The concerns live
 * beside it: connector.ts (resolve and dial), tunnels.ts, ping.ts,
 * tcp-proxy.ts, shutdown.ts; revocation is the allow-lists' (auth/node-auth.ts).
 */
import { logger } from '@libp2p/logger'
import { createNodeAuth } from '../auth/node-auth.js'
import { createConnectionGater } from '../auth/gater.js'
import { loadIdentityFile } from '../auth/identity.js'
import { createMemoryAuthorizedKeys } from '../auth/memory-authorized-keys.js'
import { explainListenError } from '../config/listen-error.js'
import { DEFAULT_NODE_LISTEN } from '../constants.js'
import { createNodeMetrics } from '../metrics/node-metrics.js'
import { registerName } from '../naming/relay-resolver.js'
import { createNetwork, isWebSocketAddr } from '../network/network.js'
import { loadUdpTransport, normalizeStunUrl, stunServersFromRelays } from '../network/udp-transport.js'
import { createDirectUpgrader } from '../paths/direct-upgrade.js'
import { peerIdOfAddr } from '../paths/path-facts.js'
import { createPathManager } from '../paths/path-manager.js'
import { serveCatalogue } from '../services/service-catalogue.js'
import { createServiceRegistry } from '../services/service-registry.js'
import { createOutboundTunnels } from '../tunnels/outbound-tunnels.js'
import { createConnector } from './connector.js'
import { configFromObject, isLoadedConfig } from './node-config.js'
import { pingPeer } from './ping.js'
import { createReservationWatchdog } from './reservation-watchdog.js'
import { stopNode } from './shutdown.js'
import { listenTcpProxy } from './tcp-proxy.js'
import { createNodeTunnels } from './tunnels.js'
import type { AuthorizedKeys } from '../auth/authorized-keys.js'
import type { NodeAuth, NodeAuthInit } from '../auth/node-auth.js'
import type { LoadedConfig } from '../config/load.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { ChainResult } from '../naming/resolver.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { UdpTransportStatus } from '../network/udp-transport.js'
import type { DirectUpgrader } from '../paths/direct-upgrade.js'
import type { PathInfo } from '../paths/path-facts.js'
import type { PathManager } from '../paths/path-manager.js'
import type { CatalogueEntry } from '../services/service-catalogue.js'
import type { ServiceRegistry } from '../services/service-registry.js'
import type { OutboundTunnels, TunnelOrigin } from '../tunnels/outbound-tunnels.js'
import type { TunnelStats } from '../tunnels/proxy.js'
import type { Connector } from './connector.js'
import type { OpenedTunnel, PeerupNode, PeerupNodeInit, TcpProxy, TunnelOptions } from './peerup-node.js'
import type { ReservationWatchdog } from './reservation-watchdog.js'
import type { TcpProxyOptions } from './tcp-proxy.js'
import type { NodeTunnels } from './tunnels.js'
import type { AbortOptions, Connection } from '@libp2p/interface'
import type { Socket } from 'node:net'

export type { OpenedTunnel, PeerupNode, PeerupNodeInit, TcpProxy, TunnelOptions } from './peerup-node.js'

const log = logger('peerup:node')

/** The init with its config loaded. */
type ResolvedInit = PeerupNodeInit & { config: LoadedConfig }

class Node implements PeerupNode {
  readonly libp2p: PeerupLibp2p
  readonly peerId: string
  readonly services: ServiceRegistry
  readonly reservations?: ReservationWatchdog
  readonly paths: PathManager
  readonly udp: UdpTransportStatus
  readonly stunServers: string[]
  readonly metrics: NodeMetrics
  readonly outbound: OutboundTunnels
  private readonly auth: NodeAuth
  private readonly upgrader: DirectUpgrader
  private readonly connector: Connector
  private readonly tunnels: NodeTunnels

  constructor (private readonly init: ResolvedInit, libp2p: PeerupLibp2p, auth: NodeAuth, udp: { status: UdpTransportStatus, stun: string[] }, metrics: NodeMetrics) {
    const { config } = init.config
    this.metrics = metrics
    this.outbound = createOutboundTunnels({ metrics })
    this.libp2p = libp2p
    this.udp = udp.status
    this.stunServers = udp.stun
    this.paths = createPathManager({ libp2p, prefer: config.paths.prefer, udp: udp.status, onChange: init.onPathChange })
    this.peerId = libp2p.peerId.toString()
    this.auth = auth
    this.services = createServiceRegistry({
      libp2p,
      authorizedKeys: auth.lists?.global,
      ownList: (service) => auth.lists?.ownList(service),
      metrics,
      onDeny: (peer, service) => { auth.serviceDenied(peer, service) }
    })
    this.upgrader = createDirectUpgrader(libp2p)
    if (init.serve !== false && config.relays.length > 0) {
      this.reservations = createReservationWatchdog(libp2p, {
        relays: config.relays,
        onReserved: (relay) => { this.register(relay) }
      })
    }
    this.connector = createConnector({ libp2p, config: init.config, mayConnect: (peer) => auth.mayConnect(peer), paths: this.paths, upgrader: this.upgrader, resolvers: init.resolvers })
    this.tunnels = createNodeTunnels({ libp2p, connector: this.connector, paths: this.paths, metrics, outbound: this.outbound })
  }

  /** Register our host name on a relay of our network (after each new reservation). */
  private register (relay: string): void {
    const { name, host } = this.init.config.config.network
    if (name == null || host == null) return
    registerName(this.libp2p, relay, name, host).then(res => {
      if (res.ok) log('registered %s.%s on %s', host, name, relay)
      else log.error('relay %s refused name %s.%s: %s', relay, host, name, res.error)
    }, (err: Error) => { log('registering %s.%s on %s failed: %s', host, name, relay, err.message) })
  }

  async start (): Promise<void> {
    await Promise.resolve(this.libp2p.start()).catch((err: unknown) => { throw explainListenError(err, this.init.config, this.init.listen ?? this.init.config.config.network.listen ?? DEFAULT_NODE_LISTEN) })
    if (this.init.serve !== false) {
      // no authorizedKeys in the definitions: the registry asks the node's lists, which follow the config
      for (const [name, svc] of Object.entries(this.init.config.config.services)) {
        await this.services.add({ name, localAddress: svc.local_address, enabled: svc.enabled, protocol: svc.protocol })
      }
      await serveCatalogue(this.libp2p, this.services, { onDenied: (peer, service) => { this.auth.serviceDenied(peer, service) } })
      this.auth.start({ libp2p: this.libp2p, services: this.services })
      this.reservations?.start()
    }
  }

  async stop (options: { graceMs?: number } = {}): Promise<void> {
    const background = [...(this.reservations != null ? [this.reservations] : []), this.paths, this.upgrader]
    await stopNode({ libp2p: this.libp2p, services: this.services, background, auth: this.auth }, options.graceMs ?? this.init.config.config.daemon.shutdown_grace_seconds * 1000)
  }

  reloadAuth (): string { return this.auth.reload() }

  async resolve (name: string, options?: AbortOptions): Promise<ChainResult> { return await this.connector.resolve(name, options) }

  async connect (target: string, options?: TunnelOptions): Promise<{ connection: Connection, peerId: string, path: PathInfo }> { return await this.connector.connect(target, options) }

  async remoteServices (target: string, options?: TunnelOptions): Promise<CatalogueEntry[]> { return await this.tunnels.remoteServices(target, options) }

  async openTunnel (target: string, service: string, options?: TunnelOptions): Promise<OpenedTunnel> { return await this.tunnels.openTunnel(target, service, options) }

  async tunnelSocket (socket: Socket, target: string, service: string, options?: TunnelOptions & { origin?: TunnelOrigin }): Promise<TunnelStats> {
    return await this.tunnels.tunnelSocket(socket, target, service, options)
  }

  async explainReset (target: string, service: string, options?: TunnelOptions): Promise<Error | undefined> { return await this.tunnels.explainReset(target, service, options) }

  async proxy (target: string, service: string, port: number, options?: TcpProxyOptions): Promise<TcpProxy> { return await listenTcpProxy(this.tunnels, target, service, port, options) }

  async ping (target: string, options?: TunnelOptions): Promise<{ rtt: number, path: PathInfo, peerId: string }> { return await pingPeer({ connector: this.connector, tunnels: this.tunnels }, target, options) }
}

/** In-memory allow-lists of the init, if it gives any. */
function memoryLists (init: PeerupNodeInit): NodeAuthInit['lists'] {
  if (init.authorizedKeys == null && init.serviceAuthorizedKeys == null) return undefined
  const list = (l: string[] | AuthorizedKeys, name: string): AuthorizedKeys => Array.isArray(l) ? createMemoryAuthorizedKeys(l, name) : l
  return {
    global: list(init.authorizedKeys ?? [], 'authorized_keys (in memory)'),
    services: Object.fromEntries(Object.entries(init.serviceAuthorizedKeys ?? {}).map(([svc, l]) => [svc, list(l, `${svc} authorized_keys (in memory)`)]))
  }
}

/**
 * Build a peerup node (home, client or gateway) from a config (loaded from
 * a file, or an object) and optionally an identity and allow-lists held in
 * memory: the
 * identity, the authorized_keys allow-lists (global and per service, watched
 * for changes), the gater, the libp2p network, the service registry, the
 * reservation watchdog and the name resolver chain. Call `start()` next.
 * With a config object, `privateKey` and `authorizedKeys`, nothing is read
 * from or written to disk.
 */
export async function createPeerupNode (options: PeerupNodeInit): Promise<PeerupNode> {
  const loaded = isLoadedConfig(options.config) ? options.config : configFromObject(options.config, { dir: options.dir })
  const init: ResolvedInit = { ...options, config: loaded }
  const { config, path } = loaded
  const privateKey = init.privateKey ?? loadIdentityFile(path(config.identity.key_file))
  const relayIds = config.relays.map(peerIdOfAddr).filter((x): x is string => x != null)
  const auth = createNodeAuth({ config: loaded, relayIds, onEvent: init.onAuthEvent, lists: memoryLists(init) })
  const stun = (config.network.stun ?? stunServersFromRelays(config.relays)).map(normalizeStunUrl)
  const udpStatus = config.paths.udp ? (await loadUdpTransport({ disabled: init.config.udpDisabled })).status : { available: false, reason: 'turned off (paths.udp: false)' }
  const metrics = createNodeMetrics()
  const listen = init.listen ?? config.network.listen ?? DEFAULT_NODE_LISTEN
  // WebSockets only when something here is a /ws address: a listener, or a relay to dial
  const relayAddrs = [...config.relays, ...Object.values(config.networks).flatMap(n => n.relays)]
  const libp2p = await createNetwork({
    udp: udpStatus.available ? { stun } : false,
    privateKey,
    listen,
    websockets: [...listen, ...relayAddrs].some(isWebSocketAddr),
    announce: config.network.announce,
    upnp: config.network.upnp,
    dht: config.network.dht,
    connectionGater: createConnectionGater({
      policy: { isAllowed: (peer) => auth.mayConnect(peer) },
      onDeny: (peer, where) => { metrics.authDenied(where); auth.gaterDenied(peer, where) }
    }),
    allow: config.daemon.allow_hosts
  })
  return new Node(init, libp2p, auth, { status: udpStatus, stun }, metrics)
}
