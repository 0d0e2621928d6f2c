import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { logger } from '@libp2p/logger'
import { createNodeAuth } from '../auth/node-auth.js'
import { createConnectionGater } from '../auth/gater.js'
import { DEFAULT_NODE_LISTEN, NAME_CACHE_FILE, DIRECT_STREAM_TIMEOUT, MAX_STREAMS_PER_PROTOCOL, SERVICE_LOOKUP_TIMEOUT } from '../constants.js'
import { connectToPeer, errorText, isRemoteRefusal, neverIdentified } from '../paths/dialer.js'
import { pathOf, peerIdOfAddr } from '../paths/path-facts.js'
import { dialableRemoteAddrs, isLoopbackAddr } from '../network/loopback-addrs.js'
import { createPathManager } from '../paths/path-manager.js'
import { loadUdpTransport, normalizeStunUrl, stunServersFromRelays } from '../network/udp-transport.js'
import { ServiceNotFoundError, TunnelResetError, UnreachableError, NotAuthorizedError } from '../errors.js'
import { loadIdentityFile } from '../auth/identity.js'
import { localFileResolver } from '../naming/local-file-resolver.js'
import { peerIdResolver } from '../naming/peer-id-resolver.js'
import { resolveChain } from '../naming/resolver.js'
import { createNetwork, isWebSocketAddr } from '../network/network.js'
import { spliceSocketStream } from '../tunnels/proxy.js'
import { createReservationWatchdog } from './reservation-watchdog.js'
import { createDirectUpgrader } from '../paths/direct-upgrade.js'
import { createServiceRegistry, serviceProtocol } from '../services/service-registry.js'
import { fetchCatalogue, lookupService, notAllowedError, serveCatalogue, serviceForPort } from '../services/service-catalogue.js'
import { relayResolver, registerName } from '../naming/relay-resolver.js'
import { cachedResolver } from '../naming/cached-resolver.js'
import { dhtResolver, findPeerAddrs } from '../naming/dht-resolver.js'
import { createNodeMetrics } from '../metrics/node-metrics.js'
import { explainListenError } from '../config/listen-error.js'
import { createOutboundTunnels } from '../tunnels/outbound-tunnels.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { OutboundTunnels, TunnelOrigin } from '../tunnels/outbound-tunnels.js'
import type { CatalogueEntry } from '../services/service-catalogue.js'
import type { AuthEvent, NodeAuth } from '../auth/node-auth.js'
import type { LoadedConfig } from '../config/load.js'
import type { PathPreference } from '../paths/dialer.js'
import type { PathInfo } from '../paths/path-facts.js'
import type { PathEvent, PathManager } from '../paths/path-manager.js'
import type { UdpTransportStatus } from '../network/udp-transport.js'
import type { ChainResult, NameResolver } from '../naming/resolver.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { TunnelStats } from '../tunnels/proxy.js'
import type { ReservationWatchdog } from './reservation-watchdog.js'
import type { DirectUpgrader } from '../paths/direct-upgrade.js'
import type { ServiceRegistry } from '../services/service-registry.js'
import type { AbortOptions, Connection, Stream } from '@libp2p/interface'
import type { Server, Socket } from 'node:net'

const log = logger('peerup:node')

/** Init of {@link createPeerupNode}. */
export interface PeerupNodeInit {
  /** The loaded config (see `loadConfig`). */
  config: LoadedConfig
  /**
   * Override the config's listen addresses (a one-shot `nc` needs none).
   *
   * @default config `network.listen`, else `['/ip4/0.0.0.0/tcp/0']`
   */
  listen?: string[]
  /**
   * Expose the config's services and keep relay reservations (daemon mode).
   *
   * @default true
   */
  serve?: boolean
  /** Extra resolver tiers inserted after the names file (network, DHT). */
  resolvers?: NameResolver[]
  /** Called when the best path to a peer changes (direct UDP up, or lost). */
  onPathChange?: (e: PathEvent) => void
  /** Called when a peer is refused (connection or service) and when the allow-lists change. */
  onAuthEvent?: (e: AuthEvent) => void
}

/** Options of tunnel-opening calls. */
export interface TunnelOptions extends AbortOptions {
  /**
   * Path preference.
   *
   * @default 'auto'
   */
  path?: PathPreference
}

/** An open tunnel stream with its path. */
export interface OpenedTunnel {
  stream: Stream
  connection: Connection
  peerId: string
  path: PathInfo
}

/** A running `proxy` listener. */
export interface TcpProxy {
  /** Bound port. */
  port: number
  /** Tunnels completed so far. */
  completed: TunnelStats[]
  close (): Promise<void>
}

/** A peerup node: home, client or gateway. */
export interface PeerupNode {
  readonly libp2p: PeerupLibp2p
  readonly peerId: string
  readonly services: ServiceRegistry
  readonly reservations?: ReservationWatchdog
  /** Path policy: background direct-UDP upgrades and their state per peer. */
  readonly paths: PathManager
  /** Whether direct UDP (WebRTC) is usable in this process, and why not. */
  readonly udp: UdpTransportStatus
  /** STUN servers used for direct UDP paths. */
  readonly stunServers: string[]
  /** Counters for status and `/metrics`: tunnels, bytes, dials by path, auth denials. */
  readonly metrics: NodeMetrics
  /** Live outbound tunnels with their byte counters (control API, SOCKS, `tunnelSocket`). */
  readonly outbound: OutboundTunnels
  start (): Promise<void>
  /**
   * Graceful stop: stop accepting, let tunnels finish for `graceMs`, reset the
   * rest, then stop everything the node started (timers, path upgrades,
   * allow-list watchers, libp2p, and the WebRTC addon's threads when this is
   * the process's last node using it). `graceMs: 0` is the quick stop of a
   * one-shot command: it returns once the connections have flushed and
   * closed (at most 2 s), after which nothing keeps the process alive.
   *
   * @default graceMs: config `daemon.shutdown_grace_seconds` × 1000
   */
  stop (options?: { graceMs?: number }): Promise<void>
  /** Resolve a name (tier chain, first hit wins). */
  resolve (name: string, options?: AbortOptions): Promise<ChainResult>
  /** Resolve and connect on the preferred path. */
  connect (target: string, options?: TunnelOptions): Promise<{ connection: Connection, peerId: string, path: PathInfo }>
  /** Open a stream to a remote service. */
  openTunnel (target: string, service: string, options?: TunnelOptions): Promise<OpenedTunnel>
  /** Splice a local socket to a remote service; resolves when the tunnel ends (counted in `outbound` meanwhile). */
  tunnelSocket (socket: Socket, target: string, service: string, options?: TunnelOptions & { origin?: TunnelOrigin }): Promise<TunnelStats>
  /**
   * Listen on a local TCP port and forward every connection to the service.
   * `onError` hears of each tunnel that could not be opened, or that the
   * remote reset before sending any data (explained by {@link PeerupNode.explainReset}).
   */
  proxy (target: string, service: string, port: number, options?: TunnelOptions & { bind?: string, onError?: (err: Error) => void }): Promise<TcpProxy>
  /**
   * Why the remote reset a `service` tunnel before sending any data: a
   * `NotAuthorizedError` when it says the service exists but is not ours to
   * use, a `ServiceNotFoundError` when it has no such service; undefined
   * when it cannot tell (the service is down, an older version).
   */
  explainReset (target: string, service: string, options?: TunnelOptions): Promise<Error | undefined>
  /** Round-trip time over the chosen path. */
  ping (target: string, options?: TunnelOptions): Promise<{ rtt: number, path: PathInfo, peerId: string }>
  /**
   * Re-read the config's service → allow-list mapping and every
   * authorized_keys file now (SIGHUP). Returns a summary: each list and its
   * number of peers.
   */
  reloadAuth (): string
  /** The services of a remote node that we may use. */
  remoteServices (target: string, options?: TunnelOptions): Promise<CatalogueEntry[]>
}

const PING_PROTOCOL = '/ipfs/ping/1.0.0'
/** Protocol of circuit relay v2 STOP streams (a relayed connection rides on one). */
const RELAY_STOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/stop'

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
  private readonly resolvers: NameResolver[]
  private readonly dhtTier?: NameResolver
  private readonly relays: string[]
  /** One of our relays is on this host: the same-host hint for a remote's loopback addresses. */
  private readonly sameHostRelay: boolean
  private readonly upgrader: DirectUpgrader

  constructor (private readonly init: PeerupNodeInit, libp2p: PeerupLibp2p, auth: NodeAuth, udp: { status: UdpTransportStatus, stun: string[] }, metrics: NodeMetrics) {
    const { config } = init.config
    this.metrics = metrics
    this.outbound = createOutboundTunnels({ metrics })
    this.libp2p = libp2p
    this.udp = udp.status
    this.stunServers = udp.stun
    this.paths = createPathManager({ libp2p, prefer: config.paths.prefer, udp: udp.status, onChange: init.onPathChange })
    this.peerId = libp2p.peerId.toString()
    this.auth = auth
    this.relays = config.relays
    this.sameHostRelay = [...config.relays, ...Object.values(config.networks).flatMap(n => n.relays)].some(isLoopbackAddr)
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
    this.dhtTier = config.network.dht ? dhtResolver({ libp2p, bootstrap: config.relays }) : undefined
    this.resolvers = [
      localFileResolver({ file: init.config.path(config.names_file), network: config.network.name }),
      cachedResolver(relayResolver({
        libp2p,
        network: config.network.name,
        relaysFor: (network) => network === config.network.name ? config.relays : (config.networks[network]?.relays ?? [])
      }), { file: init.config.path(NAME_CACHE_FILE) }),
      ...(this.dhtTier != null ? [this.dhtTier] : []),
      ...(init.resolvers ?? []),
      peerIdResolver()
    ]
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
    const grace = options.graceMs ?? this.init.config.config.daemon.shutdown_grace_seconds * 1000
    const started = Date.now()
    await this.services.stopAccepting()
    this.reservations?.stop()
    this.paths.stop()
    this.upgrader.stop()
    const inflight = this.services.tunnels()
    if (inflight.length > 0) {
      log('waiting up to %d ms for %d tunnels', grace, inflight.length)
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.all(inflight.map(async t => t.done)),
        new Promise(resolve => { timer = setTimeout(resolve, grace) })
      ])
      clearTimeout(timer)
      for (const t of this.services.tunnels()) t.abort()
      // let peers take in the last window of a just-finished tunnel: a socket
      // closed under their late window update is reset, and the reset drops
      // data they had not delivered yet
      const settle = Math.min(500, Math.max(0, grace - (Date.now() - started)))
      if (settle > 0) await new Promise(resolve => setTimeout(resolve, settle))
    }
    // a finished tunnel's last bytes and FIN can still sit in write buffers (its
    // relayed connection's, then the relay stream's, which waits for the relay's
    // window); libp2p.stop() closes every connection at once with a 500 ms timeout
    // and aborts the rest, which resets such tunnels at the client
    await this.closeConnections(Math.max(grace - (Date.now() - started), 2000))
    this.auth.stop()
    await this.libp2p.stop()
  }

  /**
   * Let tunnels' last bytes reach the far end before libp2p.stop() tears the
   * connections down. Closing a relayed connection is local (its data is handed
   * to the relay stream and a FIN queued), so also wait for each circuit's STOP
   * stream to close at the far end: the dialer closes its side of the circuit
   * only after reading everything we sent (bounded by `timeoutMs`).
   */
  private async closeConnections (timeoutMs: number): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs)
    // relayed and WebRTC connections: both close with data still in flight (the relay stream's, the data channel's)
    const isRelayed = (c: Connection): boolean => pathOf(c).class !== 'direct-tcp'
    const closedOrTimeout = async (target: { status: string, addEventListener: (type: 'close', fn: () => void, o: { once: boolean }) => void }): Promise<void> => {
      await new Promise<void>(resolve => {
        if (target.status === 'closed' || signal.aborted) { resolve(); return }
        target.addEventListener('close', () => { resolve() }, { once: true })
        signal.addEventListener('abort', () => { resolve() }, { once: true })
      })
    }
    const conns = this.libp2p.getConnections()
    await Promise.all(conns.filter(isRelayed).map(async c => { await c.close({ signal }).catch((err: Error) => { c.abort(err) }) }))
    const circuits = conns.filter(c => !isRelayed(c)).flatMap(c => c.streams).filter(s => s.protocol === RELAY_STOP_PROTOCOL)
    log('closed %d relayed connections; waiting for %d circuits to close at the far end', conns.filter(isRelayed).length, circuits.length)
    await Promise.all(circuits.map(closedOrTimeout))
    log('circuits closed%s', signal.aborted ? ' (timed out)' : '')
  }

  reloadAuth (): string {
    return this.auth.reload()
  }

  async resolve (name: string, options?: AbortOptions): Promise<ChainResult> {
    return this.dialable(await resolveChain(name, this.resolvers, options))
  }

  /** A learned answer without the remote's loopback addresses unless it is on this host; the names file's addresses as written. */
  private dialable (r: ChainResult): ChainResult {
    if (r.source === 'local') return r
    const { addrs, dropped } = dialableRemoteAddrs(r.addrs, { sameHostRelay: this.sameHostRelay })
    return dropped.length > 0 ? { ...r, addrs, droppedAddrs: dropped } : r
  }

  async connect (target: string, options: TunnelOptions = {}): Promise<{ connection: Connection, peerId: string, path: PathInfo }> {
    // a literal peer ID with relays to try: no DHT lookup first (up to 5 s for a peer
    // behind NAT, whose DHT addresses are private anyway); the relay dial starts at
    // once and the background upgrade looks for a direct path
    const viaRelay = this.relays.length > 0 && options.path !== 'direct'
    const tiers = viaRelay ? this.resolvers.filter(t => t !== this.dhtTier) : this.resolvers
    const resolved = this.dialable(await resolveChain(target, tiers, options))
    // our own gater would refuse the dial with a message about libp2p internals
    if (!this.auth.mayConnect(resolved.peerId)) throw new NotAuthorizedError(`${target} is not in your authorized_keys; run: peerup auth add ${resolved.peerId}`)
    let addrs = resolved.addrs
    const { config } = this.init.config
    if (addrs.length === 0 && config.network.dht && (options.path === 'direct' || this.relays.length === 0)) {
      // peer routing through the DHT: the current addresses of a known peer
      addrs = dialableRemoteAddrs(await findPeerAddrs({ libp2p: this.libp2p, bootstrap: this.relays }, resolved.peerId, options), { sameHostRelay: this.sameHostRelay }).addrs
    }
    const connection = await connectToPeer(this.libp2p, { peerId: resolved.peerId, name: target, addrs }, {
      path: options.path,
      relays: this.relays,
      signal: options.signal,
      prefer: config.paths.prefer,
      exclude: (c) => this.paths.avoid(c)
    })
    const path = pathOf(connection)
    if ((options.path ?? 'auto') === 'auto') {
      if (path.path === 'relayed') {
        // reached over a relay: look for a direct path in the background (TCP to the
        // remote's announced or LAN addresses, and UDP hole punching); this connection
        // and the tunnels on it stay as they are
        void this.upgrader.upgrade(connection)
        this.paths.relayed(resolved.peerId, connection)
      } else {
        // direct: close the relayed loser of the race once it carries no tunnels
        this.upgrader.retireRelayed(connection.remotePeer)
      }
    }
    return { connection, peerId: resolved.peerId, path }
  }

  async remoteServices (target: string, options: TunnelOptions = {}): Promise<CatalogueEntry[]> {
    const { connection } = await this.connect(target, options)
    return await fetchCatalogue(connection, options)
  }

  /**
   * Open a stream on a connection. On a direct UDP connection the stream must
   * open within {@link DIRECT_STREAM_TIMEOUT}; if it does not, the path is
   * suspect, new tunnels avoid it, and this one is retried on the next best
   * path (the relay) at once.
   */
  private async newStream (target: string, options: TunnelOptions, protocol: string, first: { connection: Connection, peerId: string, path: PathInfo }, extra: Record<string, unknown> = {}): Promise<{ stream: Stream, connection: Connection, path: PathInfo }> {
    let { connection, path } = first
    if (path.class === 'direct-udp') {
      const signal = AbortSignal.any([AbortSignal.timeout(DIRECT_STREAM_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
      try {
        const stream = await connection.newStream(protocol, { runOnLimitedConnection: true, ...extra, signal })
        return { stream, connection, path }
      } catch (err: any) {
        if (options.signal?.aborted === true || err.name === 'UnsupportedProtocolError') throw err
        log('stream on direct UDP connection to %s failed (%s); falling back', first.peerId, errorText(err))
        this.paths.suspect(connection, `opening a stream took over ${DIRECT_STREAM_TIMEOUT} ms`)
        ;({ connection, path } = await this.connect(target, options))
      }
    }
    const stream = await connection.newStream(protocol, { runOnLimitedConnection: true, ...extra, signal: options.signal })
    return { stream, connection, path }
  }

  async openTunnel (target: string, service: string, options: TunnelOptions = {}): Promise<OpenedTunnel> {
    try {
      const opened = await this.dialTunnel(target, service, options)
      this.metrics.dialed(opened.path.path)
      return opened
    } catch (err: any) {
      this.metrics.dialFailed(err?.name ?? 'Error')
      throw err
    }
  }

  private async dialTunnel (target: string, service: string, options: TunnelOptions): Promise<OpenedTunnel> {
    const first = await this.connect(target, options)
    const { peerId } = first
    let { connection, path } = first
    let protocol = service.startsWith('/') ? service : undefined
    if (protocol == null && /^\d{1,5}$/.test(service)) {
      // a port number: map it through the remote's catalogue (ssh -p 22 → ssh)
      let catalogue: CatalogueEntry[]
      try {
        catalogue = await fetchCatalogue(connection, options)
      } catch (err: any) {
        // same mapping as for newStream below: a hang-up before identify is the remote's gater
        if ((isRemoteRefusal(err) || connection.status !== 'open') && await neverIdentified(this.libp2p, peerId)) {
          throw new NotAuthorizedError(`${target} refused the connection: is our peer ID ${this.peerId} in its authorized_keys?`, { cause: err })
        }
        throw new UnreachableError(`asking ${target} for its services failed: ${errorText(err)}`, { cause: err })
      }
      try {
        protocol = serviceForPort(Number(service), catalogue, target).protocol
      } catch (err: any) {
        // not in the list of what we may use: does the port exist, and is it just not ours?
        const access = await lookupService(connection, { port: Number(service) }, options).catch(() => undefined)
        if (access?.status === 'denied') throw notAllowedError(target, access, this.peerId, Number(service))
        throw err
      }
    }
    protocol ??= serviceProtocol(service)
    try {
      // a client registers no handler for the service protocol, so libp2p would cap
      // outbound streams at its default of 64 per protocol per connection
      const opened = await this.newStream(target, options, protocol, { connection, peerId, path }, { maxOutboundStreams: MAX_STREAMS_PER_PROTOCOL })
      ;({ connection, path } = opened)
      return { stream: opened.stream, connection, peerId, path }
    } catch (err: any) {
      if (err.name === 'UnsupportedProtocolError') throw new ServiceNotFoundError(`${target} does not offer service "${service}"`, { cause: err })
      if (/gater|denied/i.test(err.message ?? '')) throw new NotAuthorizedError(`${target} refused us: ${err.message}`, { cause: err })
      if ((isRemoteRefusal(err) || connection.status !== 'open') && await neverIdentified(this.libp2p, peerId)) {
        // the remote hung up before identify: its gater refused us
        throw new NotAuthorizedError(`${target} refused the connection: is our peer ID ${this.peerId} in its authorized_keys?`, { cause: err })
      }
      throw new UnreachableError(`opening ${service} on ${target} failed: ${errorText(err)}`, { cause: err })
    }
  }

  async tunnelSocket (socket: Socket, target: string, service: string, options: TunnelOptions & { origin?: TunnelOrigin } = {}): Promise<TunnelStats> {
    // pause so nothing the client sends is lost while the tunnel opens
    socket.pause()
    let opened: OpenedTunnel
    try {
      opened = await this.openTunnel(target, service, options)
    } catch (err) {
      socket.resetAndDestroy()
      throw err
    }
    const t = this.outbound.track({ target, service, peerId: opened.peerId, path: opened.path, origin: options.origin ?? 'api' })
    let clean = false
    try {
      const stats = await spliceSocketStream(socket, opened.stream, { counters: t.counters, connection: opened.connection, connections: () => this.libp2p.getConnections() })
      clean = stats.clean
      return stats
    } finally {
      t.end(clean)
    }
  }

  async explainReset (target: string, service: string, options: TunnelOptions = {}): Promise<Error | undefined> {
    try {
      const signal = AbortSignal.any([AbortSignal.timeout(SERVICE_LOOKUP_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
      const { connection } = await this.connect(target, { ...options, signal })
      const port = /^\d{1,5}$/.test(service) ? Number(service) : undefined
      const access = await lookupService(connection, port != null ? { port } : { service }, { signal })
      if (access?.status === 'denied') return notAllowedError(target, access, this.peerId, port)
      if (access?.status === 'absent') return new ServiceNotFoundError(`${target} does not offer service "${service}"`)
    } catch (err: any) {
      log('cannot ask %s about %s: %s', target, service, errorText(err))
    }
    return undefined
  }

  async proxy (target: string, service: string, port: number, options: TunnelOptions & { bind?: string, onError?: (err: Error) => void } = {}): Promise<TcpProxy> {
    const completed: TunnelStats[] = []
    const { onError, ...tunnelOptions } = options
    const failed = (err: Error): void => {
      log.error('tunnel to %s/%s failed: %s', target, service, err.message)
      onError?.(err)
    }
    const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
      socket.setNoDelay(true)
      socket.on('error', () => {})
      this.tunnelSocket(socket, target, service, { ...tunnelOptions, origin: 'proxy' }).then(async s => {
        completed.push(s)
        if (s.clean || s.bytesFromStream > 0) return
        failed(await this.explainReset(target, service, tunnelOptions) ??
          new TunnelResetError(`${target} reset the ${service} tunnel before sending any data (${s.error?.message ?? 'reset'}): not authorized for this service, or the service is down`))
      }, failed)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, options.bind ?? '127.0.0.1', () => { server.off('error', reject); resolve() })
    })
    const addr = server.address()
    return {
      port: typeof addr === 'object' && addr != null ? addr.port : port,
      completed,
      close: async () => { await new Promise<void>(resolve => server.close(() => { resolve() })) }
    }
  }

  async ping (target: string, options: TunnelOptions = {}): Promise<{ rtt: number, path: PathInfo, peerId: string }> {
    const first = await this.connect(target, options)
    const { peerId } = first
    const { stream, path } = await this.newStream(target, options, PING_PROTOCOL, first)
    const payload = randomBytes(32)
    const start = performance.now()
    const echoed = await new Promise<Uint8Array>((resolve, reject) => {
      const chunks: Uint8Array[] = []
      let have = 0
      const timer = setTimeout(() => { reject(new UnreachableError('ping timed out')) }, 10_000)
      stream.addEventListener('message', (evt: any) => {
        const b = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
        chunks.push(b)
        have += b.byteLength
        if (have >= 32) { clearTimeout(timer); resolve(Buffer.concat(chunks).subarray(0, 32)) }
      })
      stream.addEventListener('close', (evt: any) => { clearTimeout(timer); if (have < 32) reject(new UnreachableError(`ping stream closed${evt.error != null ? `: ${evt.error.message}` : ''}`)) })
      stream.send(payload)
    })
    const rtt = performance.now() - start
    await stream.close().catch(() => {})
    if (!Buffer.from(echoed).equals(payload)) throw new UnreachableError('ping reply did not match')
    return { rtt, path, peerId }
  }
}

/**
 * Build a peerup node (home, client or gateway) from a loaded config: the
 * identity, the authorized_keys allow-lists (global and per service, watched
 * for changes), the gater, the libp2p network, the service registry, the
 * reservation watchdog and the name resolver chain. Call `start()` next.
 */
export async function createPeerupNode (init: PeerupNodeInit): Promise<PeerupNode> {
  const { config, path } = init.config
  const privateKey = loadIdentityFile(path(config.identity.key_file))
  const relayIds = config.relays.map(peerIdOfAddr).filter((x): x is string => x != null)
  const auth = createNodeAuth({ config: init.config, relayIds, onEvent: init.onAuthEvent })
  const stun = (config.network.stun ?? stunServersFromRelays(config.relays)).map(normalizeStunUrl)
  const udpStatus = config.paths.udp ? (await loadUdpTransport()).status : { available: false, reason: 'turned off (paths.udp: false)' }
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

