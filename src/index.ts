/**
 * @packageDocumentation
 *
 * **p2pnet**: the peerup library. Reach TCP services on your own machines
 * behind CGNAT and firewalls over a libp2p mesh, with SSH-style trust
 * (peer IDs in `authorized_keys`).
 *
 * The relay, the home node, the client and the CLI are thin entrypoints over
 * this API. The exports below are grouped: identity and auth, config, node,
 * paths, services and tunnels, naming, gateways, TUN, relay, control and
 * metrics, errors and constants. Wire codecs (DNS, SOCKS5 framing, STUN,
 * IP packets, TUN frames, JSON request/response) stay inside their modules.
 *
 * @example
 *
 * A home node that exposes its config's services, and a client that reaches
 * one of them (two config directories made by `peerup init`):
 *
 * ```ts
 * import 'peerup/polyfill' // first, on Node 20
 * import { loadConfig, createPeerupNode } from 'peerup'
 *
 * const home = await createPeerupNode({ config: loadConfig('home/config.yaml') })
 * await home.start() // serves its services, keeps reservations on its relays
 *
 * const client = await createPeerupNode({ config: loadConfig('laptop/config.yaml'), serve: false, listen: [] })
 * await client.start()
 * const { rtt, path } = await client.ping('home.grewal')
 * console.log(`rtt ${rtt} ms over ${path.class}`)
 * // 127.0.0.1:2222 now reaches the home node's `ssh` service
 * const proxy = await client.proxy('home.grewal', 'ssh', 2222)
 *
 * await proxy.close()
 * await client.stop()
 * await home.stop()
 * ```
 */
import './polyfill.js'

// --- errors and constants ----------------------------------------------------
export * from './errors.js'
export * as constants from './constants.js'

// --- identity and auth: keys, authorized_keys, the gater ----------------------
export { generateIdentity, generateIdentityFile, loadIdentityFile, peerIdOf, parsePeerId } from './auth/identity.js'
export { assertPrivateFile } from './auth/file-mode.js'
export {
  parseAuthorizedKeys, formatProblems, createAuthorizedKeys, addAuthorizedKey, removeAuthorizedKey, KNOWN_ATTRIBUTES,
  type AuthorizedKey, type AuthorizedKeys, type AuthorizedKeysEvents, type AuthorizedKeysInit, type AuthorizedKeysProblem, type ParsedAuthorizedKeys
} from './auth/authorized-keys.js'
export { createMemoryAuthorizedKeys, type MemoryAuthorizedKeys } from './auth/memory-authorized-keys.js'
export { createAllowLists, type AllowLists, type AllowListsInit, type AllowListsEvents } from './auth/allow-lists.js'
export { createConnectionGater, type ConnectionGaterInit, type PeerPolicy } from './auth/gater.js'
export { createNodeAuth, serviceListFiles, type NodeAuth, type NodeAuthInit, type NodeAuthComponents, type AuthEvent } from './auth/node-auth.js'

// --- config: the YAML files of a config directory ------------------------------
export {
  configSchema, namesFileSchema, serviceSchema, gatewaySchema, socksGatewaySchema, dnsGatewaySchema, tunGatewaySchema, relayAddressProblem, LABEL_RE,
  type PeerupConfig, type ServiceConfig, type NamesFile, type GatewayConfig
} from './config/schema.js'
export { loadConfig, findConfigFile, peerupHome, udpDisabledByEnv, DISABLE_UDP_ENV, type LoadedConfig } from './config/load.js'
export { loadYamlFile } from './config/yaml-file.js'
export { editYamlFile, addServiceToConfig, removeServiceFromConfig, setServiceAuthorizedKeys, addNameToFile, removeNameFromFile } from './config/edit.js'
export { initConfigDir, type InitConfigOptions, type InitResult } from './config/init.js'
export { writeFileAtomic, type AtomicWriteOptions } from './config/atomic-write.js'

// --- node: a home, client or gateway node, and the libp2p it runs on ----------
export { createPeerupNode, type PeerupNode, type PeerupNodeInit, type TunnelOptions, type OpenedTunnel, type TcpProxy } from './node/node.js'
export { configFromObject, type ConfigFromObjectOptions, type PeerupConfigInput } from './node/node-config.js'
export type { TcpProxyOptions } from './node/tcp-proxy.js'
export { pingSeries, type PingSeriesOptions, type PingReply } from './node/ping-series.js'
export {
  createReservationWatchdog, type ReservationWatchdog, type ReservationWatchdogInit, type ReservationState, type ReservationEvents
} from './node/reservation-watchdog.js'
export { createNetwork, type NetworkInit, type PeerupLibp2p, type RelayLimits } from './network/network.js'
export {
  loadUdpTransport, udpTransportStatus, stunServersFromRelays, normalizeStunUrl, type UdpTransportStatus, type UdpTransportOptions, type WebRTCFactory
} from './network/udp-transport.js'
export { createStreamKicker, type StreamKicker, type StreamKickerInit, type KickTarget } from './network/patches/stream-kick.js'

// --- paths: how a peer is reached (direct TCP, direct UDP, relayed) -------------
export { connectToPeer, type PathPreference, type ConnectOptions, type DialTarget } from './paths/dialer.js'
export {
  pathOf, pathClassOf, describePath, describeLimits, isCircuitAddr, isRelayedAddr, isRelayedConnection, isUdpDirectAddr, relayAddrOf, relayPeerIdOf, peerIdOfAddr, rankConnections,
  type PathInfo, type PathClass
} from './paths/path-facts.js'
export { createPathManager, type PathManager, type PathManagerInit, type PathEvent, type PathPolicy, type PeerPathState, type PathExplanation } from './paths/path-manager.js'
export { createDirectUpgrader, directCandidates, type DirectUpgrader, type DirectUpgraderInit } from './paths/direct-upgrade.js'
export { checkStunServers, stunCheckProblem, type StunCheck, type StunCheckOptions } from './paths/stun-probe.js'

// --- services and tunnels: exposing TCP services, splicing bytes ---------------
export {
  createServiceRegistry, serviceProtocol, assertServiceName, parseHostPort,
  type ServiceDefinition, type ServiceRegistry, type ServiceRegistryComponents, type ActiveTunnel
} from './services/service-registry.js'
export { serveCatalogue, fetchCatalogue, serviceForPort, CONVENTIONAL_PORTS, type CatalogueEntry, type ServeCatalogueOptions } from './services/service-catalogue.js'
export { holdStream, spliceSocketStream, socketEnd, type HeldStream, type LocalEnd, type SpliceOptions, type TunnelStats } from './tunnels/proxy.js'
export { spliceStreams, type StreamSpliceOptions, type StreamSpliceResult } from './tunnels/stream-splice.js'
export {
  createOutboundTunnels, type OutboundTunnels, type OutboundTunnelsComponents, type OutboundTunnel, type TrackedTunnel, type TunnelOrigin
} from './tunnels/outbound-tunnels.js'

// --- naming: `host.network` → peer ID ------------------------------------------
export { parseName, type ParsedName } from './naming/name.js'
export { resolveChain, type NameResolver, type ResolvedName, type NameSource, type ChainResult } from './naming/resolver.js'
export { localFileResolver, readNamesFile, type LocalName, type LocalFileResolverInit } from './naming/local-file-resolver.js'
export { relayResolver, registerName, type RelayResolverInit } from './naming/relay-resolver.js'
export { dhtResolver, findPeerAddrs, type DhtResolverInit } from './naming/dht-resolver.js'
export { cachedResolver, type CachedResolverInit } from './naming/cached-resolver.js'
export { peerIdResolver } from './naming/peer-id-resolver.js'

// --- gateways: SOCKS5 and DNS on this host, virtual IPs -------------------------
export { startGateways, type GatewayOptions, type Gateways } from './gateway/gateway.js'
export { createSocksGateway, SOCKS_REPLY, type SocksGateway, type SocksGatewayInit, type SocksGatewayComponents } from './gateway/socks5/server.js'
export type { SocksMeshComponents } from './gateway/socks5/mesh.js'
export { createDnsGateway, type DnsGateway, type DnsGatewayInit, type DnsGatewayComponents } from './gateway/dns/server.js'
export { type DnsServerAddress } from './gateway/dns/forwarder.js'
export { createVirtualIpTable, type VirtualIpTable, type VirtualIpTableInit, type VirtualIpEntry } from './gateway/virtual-ip.js'

// --- TUN: a layer-3 mesh on the virtual-IP network (Linux) ----------------------
export {
  startTunMode, type TunMode, type TunModeInit, type TunModeComponents, type TunAllowList, type TunEvent, type TunStats, type TunDropReason, type TunPeer
} from './tun/tun-mode.js'
export { openTunDevice, type TunDevice, type TunDeviceInit } from './tun/tun-device.js'
export { type InterfaceConfig } from './tun/interface-config.js'
export { createPeerLinks, type PeerLinks, type PeerLinksInit, type PeerLinksComponents, type SendResult } from './tun/peer-links.js'

// --- relay: the relay server, its name registry, STUN and status socket ---------
export { createRelayServer, type RelayServer, type RelayServerInit, type RelayStatus } from './relay/relay-server.js'
export { type HopStats } from './relay/hop/hop-server.js'
export { startNameRegistry, readRegistryFile, removeFromRegistryFile, type NameRegistry, type NameRegistryInit, type RegisteredName } from './relay/name-registry.js'
export { createStunServer, type StunServer, type StunServerInit, type StunStats } from './relay/stun-server.js'
export { serveStatusSocket, queryStatusSocket, type StatusSocket, type StatusSocketInit } from './relay/status-socket.js'

// --- control and metrics: the daemon's socket API, status, Prometheus -----------
export {
  createDaemon, pingReport,
  type Daemon, type DaemonInit, type DaemonEvents, type ReservationFailure, type PingReport, type PingReportReply, type PingReportOptions
} from './daemon/index.js'
export { createControlServer, type ControlServer, type ControlServerInit } from './control/server.js'
export {
  createControlClient, tunnelStdio, DaemonError,
  type ControlClient, type ControlClientInit, type ControlTunnel, type ControlTunnelOptions, type ControlTunnelStats, type ControlConnectResult, type ControlPingOptions
} from './control/client.js'
export { createDaemonProxy, type DaemonProxy, type DaemonProxyInit } from './control/daemon-proxy.js'
export { controlSocketPath } from './control/socket-path.js'
export { buildStatus, buildMetrics, type DaemonStatus, type PeerStatus, type TunnelStatus, type GatewayStatus, type TunStatus, type StatusSources } from './control/status.js'
export { peerLabels, type PeerLabel } from './control/peer-labels.js'
export { createNodeMetrics, renderPrometheus, type NodeMetrics, type MetricsSnapshot, type MetricFamily, type TunnelDirection } from './metrics/node-metrics.js'
export { processStats, openFds, type ProcessStats, type ProcessStatsOptions } from './metrics/process-stats.js'
export { dumpState } from './metrics/debug-state.js'
