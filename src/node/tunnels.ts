/**
 * Tunnels from this node to a remote service: open a stream (mapping a port
 * through the remote's catalogue, retrying a stalled direct UDP path on the
 * relay), splice a local socket to it, and explain why a remote reset one.
 */
import { logger } from '@libp2p/logger'
import { DIRECT_STREAM_TIMEOUT, MAX_STREAMS_PER_PROTOCOL, SERVICE_LOOKUP_TIMEOUT } from '../constants.js'
import { NotAuthorizedError, ServiceNotFoundError, UnreachableError } from '../errors.js'
import { errorText, isRemoteRefusal, neverIdentified } from '../paths/dialer.js'
import { fetchCatalogue, lookupService, notAllowedError, serviceForPort } from '../services/service-catalogue.js'
import { serviceProtocol } from '../services/service-registry.js'
import { spliceSocketStream } from '../tunnels/proxy.js'
import type { Connected, Connector } from './connector.js'
import type { OpenedTunnel, TunnelOptions } from './peerup-node.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { PathInfo } from '../paths/path-facts.js'
import type { PathManager } from '../paths/path-manager.js'
import type { CatalogueEntry } from '../services/service-catalogue.js'
import type { OutboundTunnels, TunnelOrigin } from '../tunnels/outbound-tunnels.js'
import type { TunnelStats } from '../tunnels/proxy.js'
import type { Connection, Stream } from '@libp2p/interface'
import type { Socket } from 'node:net'

const log = logger('peerup:node')

/** Init of {@link createNodeTunnels}. */
export interface NodeTunnelsInit {
  libp2p: PeerupLibp2p
  connector: Connector
  paths: PathManager
  metrics: NodeMetrics
  outbound: OutboundTunnels
}

/** See {@link createNodeTunnels}; the methods are those of `PeerupNode`. */
export interface NodeTunnels {
  /**
   * Open a stream on a connection. On a direct UDP connection the stream must
   * open within {@link DIRECT_STREAM_TIMEOUT}; if it does not, the path is
   * suspect, new tunnels avoid it, and this one is retried on the next best
   * path (the relay) at once.
   */
  newStream: (target: string, options: TunnelOptions, protocol: string, first: Connected, extra?: Record<string, unknown>) => Promise<{ stream: Stream, connection: Connection, path: PathInfo }>
  openTunnel: (target: string, service: string, options?: TunnelOptions) => Promise<OpenedTunnel>
  tunnelSocket: (socket: Socket, target: string, service: string, options?: TunnelOptions & { origin?: TunnelOrigin }) => Promise<TunnelStats>
  explainReset: (target: string, service: string, options?: TunnelOptions) => Promise<Error | undefined>
  remoteServices: (target: string, options?: TunnelOptions) => Promise<CatalogueEntry[]>
}

const isPort = (service: string): boolean => /^\d{1,5}$/.test(service)

/** Create the tunnel calls of a node. */
export function createNodeTunnels (init: NodeTunnelsInit): NodeTunnels {
  const { libp2p, connector, paths, metrics, outbound } = init
  const us = libp2p.peerId.toString()

  const refused = (target: string, err: unknown): NotAuthorizedError =>
    new NotAuthorizedError(`${target} refused the connection: is our peer ID ${us} in its authorized_keys?`, { cause: err })

  const newStream: NodeTunnels['newStream'] = async (target, options, protocol, first, extra = {}) => {
    let { connection, path } = first
    if (path.class === 'direct-udp') {
      const signal = AbortSignal.any([AbortSignal.timeout(DIRECT_STREAM_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
      try {
        const stream = await connection.newStream(protocol, { runOnLimitedConnection: true, ...extra, signal })
        return { stream, connection, path }
      } catch (err: any) {
        if (options.signal?.aborted === true || err.name === 'UnsupportedProtocolError') throw err
        log('stream on direct UDP connection to %s failed (%s); falling back', first.peerId, errorText(err))
        paths.suspect(connection, `opening a stream took over ${DIRECT_STREAM_TIMEOUT} ms`)
        ;({ connection, path } = await connector.connect(target, options))
      }
    }
    const stream = await connection.newStream(protocol, { runOnLimitedConnection: true, ...extra, signal: options.signal })
    return { stream, connection, path }
  }

  const dialTunnel = async (target: string, service: string, options: TunnelOptions): Promise<OpenedTunnel> => {
    const first = await connector.connect(target, options)
    const { peerId } = first
    let { connection, path } = first
    let protocol = service.startsWith('/') ? service : undefined
    if (protocol == null && isPort(service)) {
      // a port number: map it through the remote's catalogue (ssh -p 22 → ssh)
      let catalogue: CatalogueEntry[]
      try {
        catalogue = await fetchCatalogue(connection, options)
      } catch (err: any) {
        // same mapping as for newStream below: a hang-up before identify is the remote's gater
        if ((isRemoteRefusal(err) || connection.status !== 'open') && await neverIdentified(libp2p, peerId)) throw refused(target, err)
        throw new UnreachableError(`asking ${target} for its services failed: ${errorText(err)}`, { cause: err })
      }
      try {
        protocol = serviceForPort(Number(service), catalogue, target).protocol
      } catch (err: any) {
        // not in the list of what we may use: does the port exist, and is it just not ours?
        const access = await lookupService(connection, { port: Number(service) }, options).catch(() => undefined)
        if (access?.status === 'denied') throw notAllowedError(target, access, us, Number(service))
        throw err
      }
    }
    protocol ??= serviceProtocol(service)
    try {
      // a client registers no handler for the service protocol, so libp2p would cap
      // outbound streams at its default of 64 per protocol per connection
      const opened = await newStream(target, options, protocol, { connection, peerId, path }, { maxOutboundStreams: MAX_STREAMS_PER_PROTOCOL })
      ;({ connection, path } = opened)
      return { stream: opened.stream, connection, peerId, path }
    } catch (err: any) {
      if (err.name === 'UnsupportedProtocolError') throw new ServiceNotFoundError(`${target} does not offer service "${service}"`, { cause: err })
      if (/gater|denied/i.test(err.message ?? '')) throw new NotAuthorizedError(`${target} refused us: ${err.message}`, { cause: err })
      // the remote hung up before identify: its gater refused us
      if ((isRemoteRefusal(err) || connection.status !== 'open') && await neverIdentified(libp2p, peerId)) throw refused(target, err)
      throw new UnreachableError(`opening ${service} on ${target} failed: ${errorText(err)}`, { cause: err })
    }
  }

  const openTunnel: NodeTunnels['openTunnel'] = async (target, service, options = {}) => {
    try {
      const opened = await dialTunnel(target, service, options)
      metrics.dialed(opened.path.path)
      return opened
    } catch (err: any) {
      metrics.dialFailed(err?.name ?? 'Error')
      throw err
    }
  }

  return {
    newStream,
    openTunnel,
    tunnelSocket: async (socket, target, service, options = {}) => {
      // pause so nothing the client sends is lost while the tunnel opens
      socket.pause()
      let opened: OpenedTunnel
      try {
        opened = await openTunnel(target, service, options)
      } catch (err) {
        socket.resetAndDestroy()
        throw err
      }
      const t = outbound.track({ target, service, peerId: opened.peerId, path: opened.path, origin: options.origin ?? 'api' })
      let clean = false
      try {
        const stats = await spliceSocketStream(socket, opened.stream, { counters: t.counters, connection: opened.connection, connections: () => libp2p.getConnections(), kicker: libp2p.services.streamKicker })
        clean = stats.clean
        return stats
      } finally {
        t.end(clean)
      }
    },
    explainReset: async (target, service, options = {}) => {
      try {
        const signal = AbortSignal.any([AbortSignal.timeout(SERVICE_LOOKUP_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
        const { connection } = await connector.connect(target, { ...options, signal })
        const port = isPort(service) ? Number(service) : undefined
        const access = await lookupService(connection, port != null ? { port } : { service }, { signal })
        if (access?.status === 'denied') return notAllowedError(target, access, us, port)
        if (access?.status === 'absent') return new ServiceNotFoundError(`${target} does not offer service "${service}"`)
      } catch (err: any) {
        log('cannot ask %s about %s: %s', target, service, errorText(err))
      }
      return undefined
    },
    remoteServices: async (target, options = {}) => {
      const { connection } = await connector.connect(target, options)
      return await fetchCatalogue(connection, options)
    }
  }
}
