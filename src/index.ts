/**
 * @packageDocumentation
 *
 * **p2pnet**: the peerup library. Reach TCP services on your own machines
 * behind CGNAT and firewalls over a libp2p mesh, with SSH-style trust
 * (peer IDs in `authorized_keys`).
 *
 * The relay, the home node, the client and the CLI are thin entrypoints over
 * this API.
 *
 * @example
 *
 * ```ts
 * import 'peerup/polyfill' // first, on Node 20
 * import { loadConfig, createPeerupNode } from 'peerup'
 *
 * const node = await createPeerupNode({ config: loadConfig('home.yaml') })
 * await node.start()
 * // the config's services are exposed; reservations are kept on its relays
 * const { rtt, path } = await node.ping('home.grewal')
 * console.log(rtt, path)
 * ```
 */
import './polyfill.js'

export * from './errors.js'
export * as constants from './constants.js'
export { writeFileAtomic, type AtomicWriteOptions } from './config/atomic-write.js'
export { assertPrivateFile } from './auth/file-mode.js'
export { generateIdentity, generateIdentityFile, loadIdentityFile, peerIdOf, parsePeerId } from './auth/identity.js'
export {
  parseAuthorizedKeys, formatProblems, createAuthorizedKeys, addAuthorizedKey, removeAuthorizedKey, KNOWN_ATTRIBUTES,
  type AuthorizedKey, type AuthorizedKeys, type AuthorizedKeysInit, type AuthorizedKeysProblem, type ParsedAuthorizedKeys
} from './auth/authorized-keys.js'
export { createConnectionGater, type ConnectionGaterInit, type PeerPolicy } from './auth/gater.js'
export { createAllowLists, type AllowLists, type AllowListsInit, type AllowListsEvents } from './auth/allow-lists.js'
export { createNodeAuth, serviceListFiles, type NodeAuth, type NodeAuthInit, type NodeAuthComponents, type AuthEvent } from './auth/node-auth.js'
export { configSchema, namesFileSchema, relayAddressProblem, LABEL_RE, type PeerupConfig, type ServiceConfig, type NamesFile } from './config/schema.js'
export { loadYamlFile, nearest } from './config/yaml-file.js'
export { loadConfig, findConfigFile, peerupHome, type LoadedConfig } from './config/load.js'
export { createNetwork, type NetworkInit, type PeerupLibp2p, type RelayLimits } from './network/network.js'
export { holdStream, spliceSocketStream, type HeldStream, type SpliceOptions, type TunnelStats } from './tunnels/proxy.js'
export {
  createServiceRegistry, serviceProtocol, assertServiceName, parseHostPort,
  type ServiceDefinition, type ServiceRegistry, type ActiveTunnel
} from './services/service-registry.js'
export { connectToPeer, pathOf, describePath, isRelayedAddr, isUdpDirectAddr, type PathInfo, type PathClass, type PathPreference, type ConnectOptions, type DialTarget } from './paths/dialer.js'
export { createPathManager, type PathManager, type PathManagerInit, type PathEvent, type PathPolicy, type PeerPathState } from './paths/path-manager.js'
export { loadUdpTransport, udpTransportStatus, stunServersFromRelays, normalizeStunUrl, type UdpTransportStatus } from './network/udp-transport.js'
export { createStunServer, parseBindingRequest, bindingResponse, type StunServer, type StunServerInit, type StunStats } from './relay/stun-server.js'
export { createReservationWatchdog, type ReservationWatchdog, type ReservationState, type ReservationEvents } from './node/reservation-watchdog.js'
export { checkStunServers, stunCheckProblem, bindingRequest, parseBindingSuccess, type StunCheck, type StunCheckOptions } from './paths/stun-probe.js'
export { stunBindAddresses, localAddresses } from './relay/stun-addresses.js'
export { parseName, type ParsedName } from './naming/name.js'
export { resolveChain, type NameResolver, type ResolvedName, type NameSource, type ChainResult } from './naming/resolver.js'
export { localFileResolver, readNamesFile, type LocalName, type LocalFileResolverInit } from './naming/local-file-resolver.js'
export { peerIdResolver } from './naming/peer-id-resolver.js'
export { createPeerupNode, type PeerupNode, type PeerupNodeInit, type TunnelOptions, type OpenedTunnel, type TcpProxy } from './node/node.js'
export { createRelayServer, type RelayServer, type RelayServerInit, type RelayStatus } from './relay/relay-server.js'
export { serveStatusSocket, queryStatusSocket, type StatusSocket, type StatusSocketInit } from './relay/status-socket.js'
export { processStats, openFds, type ProcessStats } from './metrics/process-stats.js'
export { pingSeries, type PingSeriesOptions, type PingReply } from './node/ping-series.js'
export { createDirectUpgrader, directCandidates, type DirectUpgrader, type DirectUpgraderInit } from './paths/direct-upgrade.js'
export { editYamlFile, addServiceToConfig, removeServiceFromConfig, setServiceAuthorizedKeys, addNameToFile, removeNameFromFile } from './config/edit.js'
export { initConfigDir, type InitConfigOptions, type InitResult } from './config/init.js'
export { relayResolver, registerName, type RelayResolverInit } from './naming/relay-resolver.js'
export { cachedResolver, type CachedResolverInit } from './naming/cached-resolver.js'
export { startNameRegistry, readRegistryFile, removeFromRegistryFile, type NameRegistry, type RegisteredName } from './relay/name-registry.js'
export { serveCatalogue, fetchCatalogue, serviceForPort, CONVENTIONAL_PORTS, type CatalogueEntry } from './services/service-catalogue.js'
export { requestJson, serveJson, MAX_JSON_MESSAGE } from './wire/json-exchange.js'
export { dhtResolver, findPeerAddrs, type DhtResolverInit } from './naming/dht-resolver.js'
export { hopServer, HOP_PROTOCOL, STOP_PROTOCOL, type HopServer, type HopServerInit, type HopStats, type HopReservation } from './relay/hop/hop-server.js'
export { spliceStreams, type StreamSpliceOptions, type StreamSpliceResult } from './tunnels/stream-splice.js'
export { createVirtualIpTable, type VirtualIpTable, type VirtualIpTableInit, type VirtualIpEntry } from './gateway/virtual-ip.js'
export { createSocksGateway, SOCKS_REPLY, type SocksGateway, type SocksGatewayInit, type SocksGatewayComponents } from './gateway/socks5/server.js'
export { createDnsGateway, type DnsGateway, type DnsGatewayInit, type DnsGatewayComponents } from './gateway/dns/server.js'
export { parseDnsQuery, encodeDnsAnswer, DNS_TYPE, DNS_CLASS, DNS_RCODE, type DnsQuery, type ParsedDnsQuery, type DnsAnswer, type DnsRecord } from './gateway/dns/message.js'
export { forwardDnsQuery, systemDnsServers, parseDnsServer, type DnsServerAddress, type ForwardOptions } from './gateway/dns/forwarder.js'
export { startGateways, type GatewayOptions, type Gateways } from './gateway/gateway.js'
export { socksGatewaySchema, dnsGatewaySchema, gatewaySchema, type GatewayConfig } from './config/schema.js'
export { tunGatewaySchema } from './config/schema.js'
export {
  startTunMode, type TunMode, type TunModeInit, type TunModeComponents, type TunAllowList, type TunEvent, type TunStats, type TunDropReason
} from './tun/tun-mode.js'
export { openTunDevice, type TunDevice, type TunDeviceInit } from './tun/tun-device.js'
export { configureInterface, removeInterface, type InterfaceConfig } from './tun/interface-config.js'
export { createPeerLinks, type PeerLinks, type PeerLinksInit, type PeerLinksComponents, type SendResult } from './tun/peer-links.js'
export { checkInbound, routeOutbound, type InboundVerdict, type OutboundRoute } from './tun/crypto-key-routing.js'
export { parseIpv4, icmpUnreachable, internetChecksum, ipv4ToInt, intToIpv4, ipVersion, IP_PROTOCOL, ICMP_UNREACHABLE, type Ipv4Header } from './tun/ip-packet.js'
export { encodeFrames, createFrameDecoder, FRAME_HEADER, MAX_FRAME_PACKET, type FrameDecoder } from './tun/packet-framing.js'
export { dumpState, registerState } from './metrics/debug-state.js'
export { createControlServer, type ControlServer, type ControlServerInit } from './control/server.js'
export { createControlClient, tunnelStdio, DaemonError, type ControlClient, type ControlClientInit, type ControlTunnel, type ControlTunnelOptions, type ControlTunnelStats, type ControlConnectResult } from './control/client.js'
export { createDaemonProxy, type DaemonProxy, type DaemonProxyInit } from './control/daemon-proxy.js'
export { createOutboundTunnels, type OutboundTunnels, type OutboundTunnel, type TrackedTunnel, type TunnelOrigin } from './tunnels/outbound-tunnels.js'
export { controlSocketPath } from './control/socket-path.js'
export { createNodeMetrics, renderPrometheus, type NodeMetrics, type MetricsSnapshot, type MetricFamily, type TunnelDirection } from './metrics/node-metrics.js'
export { buildStatus, buildMetrics, type DaemonStatus, type PeerStatus, type TunnelStatus, type GatewayStatus } from './control/status.js'
export { peerLabels, type PeerLabel } from './control/peer-labels.js'
