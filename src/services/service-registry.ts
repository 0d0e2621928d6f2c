import { connect } from 'node:net'
import { logger } from '@libp2p/logger'
import { MAX_STREAMS_PER_PROTOCOL, SERVICE_PROTOCOL_PREFIX, SERVICE_PROTOCOL_VERSION } from '../constants.js'
import { InvalidNameError, ServiceNotFoundError } from '../errors.js'
import { holdStream, spliceSocketStream } from '../tunnels/proxy.js'
import { LABEL_RE } from '../config/schema.js'
import type { AuthorizedKeys } from '../auth/authorized-keys.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { TunnelStats } from '../tunnels/proxy.js'
import type { Connection, Stream } from '@libp2p/interface'

const log = logger('peerup:services')

/** A service exposed to peers. */
export interface ServiceDefinition {
  /** DNS-label name, e.g. `ssh`. */
  name: string
  /** Local TCP address, `host:port`. */
  localAddress: string
  /**
   * Whether the service is exposed.
   *
   * @default true
   */
  enabled?: boolean
  /**
   * Protocol ID.
   *
   * @default `/peerup/<name>/1.0.0`
   */
  protocol?: string
  /** Per-service allow-list; overrides the global one for this service. */
  authorizedKeys?: AuthorizedKeys
}

/** A live tunnel, for status and graceful shutdown. */
export interface ActiveTunnel {
  service: string
  peer: string
  startedAt: number
  counters: { bytesFromStream: number, bytesToStream: number }
  /** Reset the tunnel now. */
  abort: () => void
  /** Resolves when the tunnel ends. */
  done: Promise<TunnelStats>
}

/** Components of the service registry. */
export interface ServiceRegistryComponents {
  libp2p: PeerupLibp2p
  /** The node's global allow-list (undefined when gating is off). */
  authorizedKeys?: AuthorizedKeys
  /**
   * The service's own allow-list when its definition carries none, asked on
   * every stream (so a config reload that gives a service its own list, or
   * takes it away, applies at once).
   */
  ownList?: (service: string) => AuthorizedKeys | undefined
  /** Called when a peer is refused a service. */
  onDeny?: (peer: string, service: string) => void
  /** Counters: inbound tunnels, bytes, per-service denials. */
  metrics?: NodeMetrics
}

/** The service registry: `/peerup/<name>/1.0.0` ↔ local `host:port`. */
export interface ServiceRegistry {
  /** Expose a service (replaces one of the same name). */
  add (def: ServiceDefinition): Promise<void>
  /** Stop exposing a service; running tunnels continue. */
  remove (name: string): Promise<void>
  /** Exposed services. */
  list (): ServiceDefinition[]
  /** Whether `peer` may use `service` (per-service list, else the global one). */
  isAuthorized (peer: string, service: string): boolean
  /** Whether `service` has its own allow-list (else the global one applies). */
  hasOwnList (service: string): boolean
  /** Whether `peer` is granted by any list (global or any service's). */
  isAllowedAnywhere (peer: string): boolean
  /** Tunnels in flight. */
  tunnels (): ActiveTunnel[]
  /** Stop accepting new tunnels (SIGTERM). */
  stopAccepting (): Promise<void>
}

/** The protocol ID of a service name. */
export function serviceProtocol (name: string): string {
  assertServiceName(name)
  return `${SERVICE_PROTOCOL_PREFIX}${name}/${SERVICE_PROTOCOL_VERSION}`
}

/** Throw {@link InvalidNameError} unless `name` is a DNS label. */
export function assertServiceName (name: string): void {
  if (!LABEL_RE.test(name)) throw new InvalidNameError(`invalid service name "${name}": use a DNS label (a-z, 0-9, "-")`)
}

/** Split `host:port` (IPv6 in brackets). */
export function parseHostPort (text: string): { host: string, port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text)
  if (m == null || Number(m[2]) > 65535) throw new InvalidNameError(`invalid address "${text}": expected host:port`)
  return { host: m[1], port: Number(m[2]) }
}

class Registry implements ServiceRegistry {
  private readonly services = new Map<string, ServiceDefinition>()
  private readonly active = new Set<ActiveTunnel>()
  private accepting = true

  constructor (private readonly components: ServiceRegistryComponents) {}

  async add (def: ServiceDefinition): Promise<void> {
    assertServiceName(def.name)
    parseHostPort(def.localAddress)
    if (this.services.has(def.name)) await this.remove(def.name)
    const full: ServiceDefinition = { enabled: true, protocol: serviceProtocol(def.name), ...def }
    full.protocol ??= serviceProtocol(def.name)
    this.services.set(def.name, full)
    if (full.enabled === false) return
    await this.components.libp2p.handle(full.protocol!, (stream, connection) => { this.onStream(full, stream, connection) }, {
      runOnLimitedConnection: true,
      maxInboundStreams: MAX_STREAMS_PER_PROTOCOL,
      maxOutboundStreams: MAX_STREAMS_PER_PROTOCOL,
      force: true
    })
    log('exposing %s (%s) -> %s', def.name, full.protocol, def.localAddress)
  }

  async remove (name: string): Promise<void> {
    const def = this.services.get(name)
    if (def == null) throw new ServiceNotFoundError(`no service named "${name}"`)
    this.services.delete(name)
    if (def.enabled !== false) await this.components.libp2p.unhandle(def.protocol!)
  }

  list (): ServiceDefinition[] { return [...this.services.values()] }

  /** The service's own list: from its definition, else from the node's lists. */
  private ownList (service: string): AuthorizedKeys | undefined {
    return this.services.get(service)?.authorizedKeys ?? this.components.ownList?.(service)
  }

  isAuthorized (peer: string, service: string): boolean {
    const list = this.ownList(service) ?? this.components.authorizedKeys
    if (list == null) return true // gating off
    return list.isAuthorized(peer)
  }

  hasOwnList (service: string): boolean { return this.ownList(service) != null }

  isAllowedAnywhere (peer: string): boolean {
    if (this.components.authorizedKeys == null) return true
    if (this.components.authorizedKeys.isAuthorized(peer)) return true
    for (const s of this.services.values()) if (this.ownList(s.name)?.isAuthorized(peer) === true) return true
    return false
  }

  tunnels (): ActiveTunnel[] { return [...this.active] }

  async stopAccepting (): Promise<void> {
    this.accepting = false
    for (const s of this.services.values()) {
      if (s.enabled !== false) await this.components.libp2p.unhandle(s.protocol!).catch(() => {})
    }
  }

  private onStream (def: ServiceDefinition, stream: Stream, connection: Connection): void {
    // capture FIN/close synchronously, before any await: a listener added later misses an early FIN
    const held = holdStream(stream)
    const peer = connection.remotePeer.toString()
    // defense in depth: re-check authorization before touching the local service
    const authorized = this.isAuthorized(peer, def.name)
    if (!this.accepting || !authorized || this.services.get(def.name) !== def) {
      log('denied %s for service %s', peer, def.name)
      if (this.accepting) this.components.metrics?.authDenied(`service ${def.name}`)
      if (this.accepting && !authorized) this.components.onDeny?.(peer, def.name)
      held.release()
      stream.abort(new Error('not authorized'))
      return
    }
    const { host, port } = parseHostPort(def.localAddress)
    const socket = connect({ host, port, allowHalfOpen: true })
    socket.setNoDelay(true)
    const counters = { bytesFromStream: 0, bytesToStream: 0 }
    const abort = new AbortController()
    let tunnelClean = false
    let resolveDone!: (s: TunnelStats) => void
    const tunnel: ActiveTunnel = {
      service: def.name,
      peer,
      startedAt: Date.now(),
      counters,
      abort: () => { abort.abort() },
      done: new Promise(resolve => { resolveDone = resolve })
    }
    this.active.add(tunnel)
    const onConnectError = (err: Error): void => {
      log('service %s: cannot reach %s: %s', def.name, def.localAddress, err.message)
      held.release()
      stream.abort(err)
      this.active.delete(tunnel)
      resolveDone({ bytesFromStream: 0, bytesToStream: 0, clean: false, error: err })
    }
    socket.once('error', onConnectError)
    socket.once('connect', () => {
      socket.off('error', onConnectError)
      const metrics = this.components.metrics
      metrics?.tunnelOpened('inbound')
      spliceSocketStream(socket, held, { signal: abort.signal, counters, connection, connections: () => this.components.libp2p.getConnections(), kicker: this.components.libp2p.services.streamKicker })
        .then(stats => {
          log('tunnel %s from %s ended: %d in, %d out, %s', def.name, peer, stats.bytesToStream, stats.bytesFromStream, stats.clean ? 'clean' : 'reset')
          tunnelClean = stats.clean
          resolveDone(stats)
        }, (err: Error) => { resolveDone({ ...counters, clean: false, error: err }) })
        .finally(() => {
          this.active.delete(tunnel)
          metrics?.tunnelClosed('inbound', { bytesIn: counters.bytesFromStream, bytesOut: counters.bytesToStream, clean: tunnelClean })
        })
    })
  }
}

/** Create a service registry over a libp2p node. */
export function createServiceRegistry (components: ServiceRegistryComponents): ServiceRegistry {
  return new Registry(components)
}
