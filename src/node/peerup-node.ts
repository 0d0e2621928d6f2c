/**
 * The public shape of a peerup node: {@link PeerupNode}, its init and the
 * option and result types of its calls. Built by `createPeerupNode` (node.ts).
 */
import type { AuthorizedKeys } from '../auth/authorized-keys.js'
import type { AuthEvent } from '../auth/node-auth.js'
import type { LoadedConfig } from '../config/load.js'
import type { NodeMetrics } from '../metrics/node-metrics.js'
import type { ChainResult, NameResolver } from '../naming/resolver.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { UdpTransportStatus } from '../network/udp-transport.js'
import type { PathPreference } from '../paths/dialer.js'
import type { PathInfo } from '../paths/path-facts.js'
import type { PathEvent, PathManager } from '../paths/path-manager.js'
import type { CatalogueEntry } from '../services/service-catalogue.js'
import type { ServiceRegistry } from '../services/service-registry.js'
import type { OutboundTunnels, TunnelOrigin } from '../tunnels/outbound-tunnels.js'
import type { TunnelStats } from '../tunnels/proxy.js'
import type { PeerupConfigInput } from './node-config.js'
import type { ReservationWatchdog } from './reservation-watchdog.js'
import type { AbortOptions, Connection, PrivateKey, Stream } from '@libp2p/interface'
import type { Socket } from 'node:net'

/** Init of {@link createPeerupNode}. */
export interface PeerupNodeInit {
  /**
   * The config: loaded from a file (see `loadConfig`), or an object in the
   * config file's shape that needs no file (see `configFromObject`; relative
   * paths in it resolve against `dir`).
   */
  config: LoadedConfig | PeerupConfigInput
  /**
   * Base directory of a config object's relative paths (unused for a loaded config).
   *
   * @default process.cwd()
   */
  dir?: string
  /**
   * The node's identity, in memory: the config's `identity.key_file` is then not read.
   *
   * @default the key in `identity.key_file`
   */
  privateKey?: PrivateKey
  /**
   * The global allow-list, in memory: authorized_keys lines (a peer ID each,
   * optionally `expires=` and a `# comment`) or a list (see
   * `createMemoryAuthorizedKeys`, whose `set()` changes it while the node
   * runs). With this or `serviceAuthorizedKeys`, the config's
   * `authorized_keys` files are neither read nor watched.
   *
   * @default the config's `security.authorized_keys_file`
   */
  authorizedKeys?: string[] | AuthorizedKeys
  /**
   * Services with their own allow-list, in memory: service name → lines or
   * list. Services not named here use the global list.
   *
   * @default the config's `services.<name>.authorized_keys` files
   */
  serviceAuthorizedKeys?: Record<string, string[] | AuthorizedKeys>
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
