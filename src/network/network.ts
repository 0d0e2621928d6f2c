import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { createLibp2p } from 'libp2p'
import { announceableAddrs } from './loopback-addrs.js'
import { isMeshAddress } from './mesh-range.js'
import { installWebSocket } from '../polyfill.js'
import { hopServer } from '../relay/hop/hop-server.js'
import { streamKicker } from './patches/stream-kick.js'
import { corkedTcp, noiseLengthDecoderPatch, yamuxFlowControl } from './patches/transport-tuning.js'
import { holdUdpTransportWhileRunning, loadUdpTransport } from './udp-transport.js'
import {
  DEFAULT_NODE_LISTEN, DIRECT_UPGRADE_TIMEOUT, KAD_PROTOCOL, MAX_EARLY_STREAMS, MAX_STREAMS_PER_CONNECTION, NODE_CONNECTIONS_PER_HOST_PER_SECOND, NODE_MAX_CONNECTIONS,
  NODE_MAX_PENDING_CONNECTIONS, PING_MAX_STREAMS, RELAY_CONNECTIONS_PER_HOST_PER_SECOND, RELAY_MAX_CIRCUITS, RELAY_MAX_CIRCUITS_PER_PEER,
  RELAY_MAX_CIRCUITS_PER_PEER_PER_SECOND, RELAY_MAX_CONNECTIONS, RELAY_MAX_HOP_STREAMS, RELAY_MAX_PENDING_CONNECTIONS, RELAY_MAX_RESERVATIONS, RELAY_PENALTY,
  RELAY_RESERVATION_TTL, RESERVATION_COMPLETION_TIMEOUT, UDP_MAX_READ_BUFFER, UPNP_DESCRIPTION, YAMUX_INITIAL_WINDOW, YAMUX_MAX_READ_BUFFER, YAMUX_MAX_WINDOW,
  YAMUX_MAX_WRITE_BUFFER
} from '../constants.js'
import type { ConnectionGater, Libp2p, PrivateKey } from '@libp2p/interface'

/** Per-circuit limits of a relay. Absent fields mean "no limit". */
export interface RelayLimits {
  /** Bytes per circuit (both directions). Never `0n`, which breaks the handshake. */
  dataBytes?: bigint
  /** Duration per circuit (ms). */
  durationMs?: number
}

/** Init of {@link createNetwork}. */
export interface NetworkInit {
  /** The node's private key. */
  privateKey: PrivateKey
  /**
   * Multiaddrs to listen on (TCP and WebSockets).
   *
   * @default ['/ip4/0.0.0.0/tcp/0']
   */
  listen?: string[]
  /**
   * Extra addresses to announce (a port forward, a DNS name such as
   * `/dns4/home.example.net/tcp/4001`). They are *added* to the addresses
   * the node advertises (its listen and relay addresses stay), so peers can
   * dial them directly (see docs/NAT.md).
   *
   * @default []
   */
  announce?: string[]
  /** The connection gater (authorized_keys). */
  connectionGater: ConnectionGater
  /**
   * Run the circuit relay v2 server.
   *
   * @default false
   */
  relayServer?: false | {
    maxReservations?: number
    limits?: RelayLimits
    reservationTtl?: number
    /**
     * `peerup`: our HOP server with a bounded, backpressured splice;
     * `stock`: js-libp2p's circuitRelayServer (leaks ~1.2× the bytes relayed,
     * its `pipe()` wraps the HOP stream twice and never reads one wrapper; kept
     * for comparison in the benchmark).
     *
     * @default 'peerup'
     */
    engine?: 'peerup' | 'stock'
    /** Circuits open at once. @default 1024 */
    maxCircuits?: number
    /** Circuits one source peer may have open at once. @default 64 */
    maxCircuitsPerPeer?: number
    /** Circuits one source peer may open per second (token bucket, bursts of twice this). @default 20 */
    maxCircuitsPerPeerPerSecond?: number
    /** How long a peer flooding circuit requests past its rate limit is disconnected and refused (ms); 0 turns it off. @default 60000 */
    penaltyMs?: number
    /** Called when a peer is put in the penalty box. */
    onPenalty?: (peer: string, ms: number) => void
  }
  /**
   * Hosts whose connections are exempt from the connection manager's rate
   * limits (loopback tests, many peers behind one NAT).
   *
   * @default []
   */
  allow?: string[]
  /**
   * Maximum connections.
   *
   * @default 4096 for relays, 1024 otherwise
   */
  maxConnections?: number
  /**
   * Inbound connections still handshaking at once.
   *
   * @default 256 for relays, 64 otherwise
   */
  maxPendingConnections?: number
  /**
   * New inbound connections per second from one host (hosts in `allow` are exempt).
   *
   * @default 20
   */
  connectionsPerHostPerSecond?: number
  /**
   * Run the private Kademlia DHT (`/peerup/kad/1.0.0`): server mode on
   * relays (the bootstrap peers), client mode elsewhere.
   *
   * @default true
   */
  dht?: boolean
  /**
   * Direct UDP paths (WebRTC private-to-private, hole-punched through NAT
   * with the relay as signalling): listen on `/webrtc` and dial
   * `<relay>/p2p-circuit/webrtc/p2p/<peer>`. `stun` lists the STUN servers
   * (`stun:host:port`) used to learn our public UDP address; nothing else is
   * ever contacted (no third-party default). Ignored on relays, and when the
   * native addon cannot load (see `udpTransportStatus()`).
   *
   * @default false
   */
  udp?: false | { stun: string[] }
  /**
   * Load the WebSockets transport (to listen on or dial `/ws` addresses).
   * Left out, `ws` and `@libp2p/websockets` are never loaded, which saves
   * about 11 MiB of RSS on nodes that use TCP only.
   *
   * @default true when a listen address is a `/ws` or `/wss` address
   */
  websockets?: boolean
  /**
   * Ask the LAN's router for port mappings with UPnP (`@libp2p/upnp-nat`:
   * IGDv2 routers only; NAT-PMP is not used) and announce each mapped
   * `/ip4/<router's external address>/tcp/<port>`, so peers can dial this
   * node directly without a hand-made port forward. The router must report a
   * public external address: behind a second NAT (CGNAT, 100.64/10, RFC 1918)
   * nothing is mapped. Left out, `@libp2p/upnp-nat` is never loaded.
   * See docs/NAT.md.
   *
   * @default false
   */
  upnp?: boolean
}

/** Whether a multiaddr is a WebSockets address. */
export function isWebSocketAddr (addr: string): boolean {
  return /\/wss?(\/|$)|\/tls\/ws(\/|$)/.test(addr)
}

/** `127.0.0.1` → `/ip4/127.0.0.1`; multiaddrs pass through. */
function toAllowMultiaddr (host: string): string {
  if (host.startsWith('/')) return host
  return host.includes(':') ? `/ip6/${host}` : `/ip4/${host}`
}

/** The libp2p node type used throughout peerup. */
export type PeerupLibp2p = Libp2p<Record<string, any>>

/**
 * Build (but do not start) a libp2p node: TCP + WebSockets, Noise, yamux
 * tuned for bulk tunnels (window sizes, and the per-byte fixes of
 * `transport-tuning.ts`), circuit relay v2 transport, identify, ping and
 * DCUtR; and, for relays, the circuit relay v2 server with deliberate limits.
 *
 * The caller must have imported `peerup/polyfill` first on Node 20.
 */
export async function createNetwork (init: NetworkInit): Promise<PeerupLibp2p> {
  const relay = init.relayServer !== false && init.relayServer != null ? init.relayServer : undefined
  const services: Record<string, any> = {
    identify: identify({ runOnLimitedConnection: true }),
    ping: ping({ runOnLimitedConnection: true, maxInboundStreams: PING_MAX_STREAMS, maxOutboundStreams: PING_MAX_STREAMS }),
    // this node's lost-wakeup watchdog for tunnel and circuit streams (patches/stream-kick.ts)
    streamKicker: streamKicker()
  }
  if (relay != null && relay.engine !== 'stock') {
    const gater = init.connectionGater
    services.relay = hopServer({
      maxReservations: relay.maxReservations ?? RELAY_MAX_RESERVATIONS,
      reservationTtl: relay.reservationTtl ?? RELAY_RESERVATION_TTL,
      limits: relay.limits,
      maxCircuits: relay.maxCircuits ?? RELAY_MAX_CIRCUITS,
      maxCircuitsPerPeer: relay.maxCircuitsPerPeer ?? RELAY_MAX_CIRCUITS_PER_PEER,
      maxCircuitsPerPeerPerSecond: relay.maxCircuitsPerPeerPerSecond ?? RELAY_MAX_CIRCUITS_PER_PEER_PER_SECOND,
      penaltyMs: relay.penaltyMs ?? RELAY_PENALTY,
      onPenalty: relay.onPenalty,
      canReserve: (peer) => gater.denyInboundRelayReservation?.(peer as any) !== true,
      canConnect: (source, destination) => gater.denyOutboundRelayedConnection?.(source as any, destination as any) !== true
    })
  } else if (relay != null) {
    const limits = relay.limits ?? {}
    const hasLimit = limits.dataBytes != null || limits.durationMs != null
    services.relay = circuitRelayServer({
      reservations: {
        maxReservations: relay.maxReservations ?? RELAY_MAX_RESERVATIONS,
        reservationTtl: relay.reservationTtl ?? RELAY_RESERVATION_TTL,
        applyDefaultLimit: hasLimit,
        ...(limits.dataBytes != null ? { defaultDataLimit: limits.dataBytes } : {}),
        ...(limits.durationMs != null ? { defaultDurationLimit: limits.durationMs } : {})
      },
      maxInboundHopStreams: RELAY_MAX_HOP_STREAMS,
      maxOutboundStopStreams: RELAY_MAX_HOP_STREAMS,
      maxOutboundHopStreams: RELAY_MAX_HOP_STREAMS
    })
  } else {
    services.dcutr = dcutr()
  }
  if (init.dht !== false) {
    // loaded only when wanted: the DHT is a large module tree
    const { kadDHT, passthroughMapper } = await import('@libp2p/kad-dht')
    services.dht = kadDHT({
      protocol: KAD_PROTOCOL,
      clientMode: relay == null,
      // a private DHT among members: LAN and loopback addresses are useful, keep them
      peerInfoMapper: passthroughMapper,
      logPrefix: 'peerup:dht',
      datastorePrefix: '/peerup-dht',
      metricsPrefix: 'peerup_dht'
    })
  }
  if (init.upnp === true) {
    // loaded only when wanted: it opens ports on the router, and is off by default
    const { uPnPNAT } = await import('@libp2p/upnp-nat')
    services.upnpNat = uPnPNAT({
      // trust the address the router granted; otherwise upnp-nat requires @libp2p/autonat,
      // which peerup does not run (a peer whose dial of it fails keeps the relayed path)
      autoConfirmAddress: true,
      portMappingDescription: UPNP_DESCRIPTION
    })
  }
  const listen = [...(init.listen ?? DEFAULT_NODE_LISTEN)]
  const transports: any[] = [corkedTcp()]
  if (init.websockets ?? listen.some(isWebSocketAddr)) {
    await installWebSocket()
    const { webSockets } = await import('@libp2p/websockets')
    transports.push(webSockets())
  }
  transports.push(circuitRelayTransport({ maxInboundStopStreams: RELAY_MAX_HOP_STREAMS, maxOutboundStopStreams: RELAY_MAX_HOP_STREAMS, reservationCompletionTimeout: RESERVATION_COMPLETION_TIMEOUT }))
  const maxConnections = init.maxConnections ?? (relay != null ? RELAY_MAX_CONNECTIONS : NODE_MAX_CONNECTIONS)
  const extraTransports: any[] = []
  if (relay == null && init.udp !== false && init.udp != null) {
    const { factory } = await loadUdpTransport()
    if (factory != null) {
      const iceServers = init.udp.stun.map(url => ({ urls: [url] }))
      extraTransports.push(factory({
        rtcConfiguration: () => ({ iceServers }),
        maxEarlyStreams: MAX_EARLY_STREAMS,
        // WebRTC streams have no receive backpressure (@libp2p/webrtc sendResume is a no-op):
        // a paused tunnel keeps receiving, so give it room before the stream is reset
        dataChannel: { maxReadBufferLength: UDP_MAX_READ_BUFFER } as any
      }))
      // a one-shot client (no listeners) still accepts nothing; a daemon accepts WebRTC upgrades
      if (listen.length > 0 && !listen.includes('/webrtc')) listen.push('/webrtc')
    }
  }
  const node = await createLibp2p({
    privateKey: init.privateKey,
    start: false,
    addresses: {
      listen,
      // appendAnnounce, not announce: libp2p's `announce` *replaces* every other
      // address, which would hide the node's /p2p-circuit (relay) and LAN addresses
      appendAnnounce: init.announce ?? [],
      // a TUN interface's address is not a way to reach us (see mesh-range.ts); nor is our
      // loopback address for a peer on another host (see loopback-addrs.ts)
      announceFilter: (addrs) => announceableAddrs(addrs.filter(a => !isMeshAddress(a)))
    },
    transports: [...transports, ...extraTransports],
    connectionEncrypters: [noise()],
    // initialStreamWindowSize stays at the spec's 256 KiB: the remote assumes it. The
    // bigger window is granted at stream open, updates go in half-window steps (transport-tuning.ts)
    streamMuxers: [yamuxFlowControl(yamux({
      maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_STREAMS_PER_CONNECTION,
      maxEarlyStreams: MAX_EARLY_STREAMS,
      streamOptions: {
        maxStreamWindowSize: YAMUX_MAX_WINDOW,
        maxReadBufferLength: YAMUX_MAX_READ_BUFFER,
        maxWriteBufferLength: YAMUX_MAX_WRITE_BUFFER,
        inactivityTimeout: 0
      }
    } as any), { initialWindow: YAMUX_INITIAL_WINDOW })],
    connectionGater: init.connectionGater,
    connectionManager: {
      maxConnections,
      maxIncomingPendingConnections: init.maxPendingConnections ?? (relay != null ? RELAY_MAX_PENDING_CONNECTIONS : NODE_MAX_PENDING_CONNECTIONS),
      inboundConnectionThreshold: init.connectionsPerHostPerSecond ?? (relay != null ? RELAY_CONNECTIONS_PER_HOST_PER_SECOND : NODE_CONNECTIONS_PER_HOST_PER_SECOND),
      // a relay-signalled WebRTC dial (signalling, ICE, DTLS, SCTP) can exceed libp2p's 6 s per-address default
      ...(extraTransports.length > 0 ? { addressDialTimeout: DIRECT_UPGRADE_TIMEOUT } : {}),
      allow: (init.allow ?? []).map(toAllowMultiaddr)
    },
    connectionMonitor: { enabled: true, abortConnectionOnPingFailure: false } as any,
    services
  }) as PeerupLibp2p
  const patchNoise = noiseLengthDecoderPatch()
  node.addEventListener('connection:open', (evt) => { patchNoise(evt.detail) })
  if (extraTransports.length > 0) holdUdpTransportWhileRunning(node)
  return node
}
