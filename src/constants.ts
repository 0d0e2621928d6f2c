/**
 * Every default of the p2pnet library lives here, so that TSDoc `@default`
 * tags, the CLI help and the code agree.
 */

/** Protocol prefix of service streams: `/peerup/<name>/1.0.0`. */
export const SERVICE_PROTOCOL_PREFIX = '/peerup/'
/** Version suffix of service protocols. */
export const SERVICE_PROTOCOL_VERSION = '1.0.0'
/** Protocol of the service catalogue query. */
export const SERVICES_PROTOCOL = '/peerup/services/1.0.0'
/** Protocol of the relay's name registry. */
export const NAMES_PROTOCOL = '/peerup/names/1.0.0'
/** Protocol of the private Kademlia DHT. */
export const KAD_PROTOCOL = '/peerup/kad/1.0.0'
/** Description of the UPnP port mappings peerup asks the router for (shown in the router's UPnP table). */
export const UPNP_DESCRIPTION = 'peerup'

/**
 * yamux: the initial stream window fixed by the spec (bytes), in both
 * directions. It is not negotiated: every peer (js, go, rust) assumes it at
 * stream open, so a bigger window must be granted with a WINDOW_UPDATE.
 */
export const YAMUX_SPEC_WINDOW = 256 * 1024
/**
 * yamux: per-stream receive window granted at stream open (bytes). The
 * stream starts at {@link YAMUX_SPEC_WINDOW} on the wire and the rest is
 * granted with the SYN or ACK, so bulk transfers start fast with any peer.
 */
export const YAMUX_INITIAL_WINDOW = 4 * 1024 * 1024
/**
 * yamux: largest DATA frame payload we send (bytes). The spec sets no limit,
 * but rust-yamux rejects frames over 1 MiB (and closes the connection), and
 * a relay forwards a frame only once all of it has arrived.
 */
export const YAMUX_MAX_FRAME_PAYLOAD = 256 * 1024
/**
 * yamux: maximum per-stream receive window (bytes). A paused stream hands its
 * whole read buffer over in one message when resumed; on a relayed connection
 * that message feeds Noise's length-prefixed decoder, which aborts the
 * connection past 16 MiB. So window and read buffer stay well under 16 MiB.
 */
export const YAMUX_MAX_WINDOW = 6 * 1024 * 1024
/** yamux: send a WINDOW_UPDATE once this fraction of the receive window is consumed (stock yamux 8: after every frame). */
export const YAMUX_WINDOW_UPDATE_FRACTION = 0.5
/** yamux: read buffer a paused stream may hold before it is reset; ≥ 2 windows for the `resume()` bug (yamux keeps granting window to a stream paused during `resume()`'s dispatch), < 16 MiB for Noise. */
export const YAMUX_MAX_READ_BUFFER = 15 * 1024 * 1024
/** yamux: per-stream write buffer cap; our proxy stops reading its source well before this. */
export const YAMUX_MAX_WRITE_BUFFER = 64 * 1024 * 1024
/** Streams per connection (inbound and outbound). */
export const MAX_STREAMS_PER_CONNECTION = 4096
/** Streams per service protocol per connection. */
export const MAX_STREAMS_PER_PROTOCOL = 2048

/** Streams a muxer accepts before the protocol is negotiated (yamux and WebRTC). */
export const MAX_EARLY_STREAMS = 64
/** Ping service: concurrent inbound and outbound ping streams per connection. */
export const PING_MAX_STREAMS = 64

/** Home/client node: default connection limit (connection manager). */
export const NODE_MAX_CONNECTIONS = 1024
/** Home/client node: connections still in their handshake at once; more are refused at accept. */
export const NODE_MAX_PENDING_CONNECTIONS = 64
/** Home/client node: new inbound connections per second from one IP address; more are refused at accept. */
export const NODE_CONNECTIONS_PER_HOST_PER_SECOND = 20

/** Proxy: pause the TCP source when the stream's write buffer passes this many bytes. */
export const PROXY_HIGH_WATER_MARK = 1024 * 1024

/** Relay: maximum concurrent reservations. */
export const RELAY_MAX_RESERVATIONS = 1024
/** Relay: reservation TTL (ms). */
export const RELAY_RESERVATION_TTL = 2 * 60 * 60 * 1000
/** Circuit relay: HOP and STOP streams open at once (the stock relay server's and the circuit transport's limits). */
export const RELAY_MAX_HOP_STREAMS = 4096
/** Circuit relay transport: how long a node waits for a relay to grant a reservation (ms). */
export const RESERVATION_COMPLETION_TIMEOUT = 10_000
/** Relay: default connection limit per relay (connection manager). */
export const RELAY_MAX_CONNECTIONS = 4096
/** Relay: connections still in their handshake (TCP accepted, Noise not done) at once; more are refused at accept. */
export const RELAY_MAX_PENDING_CONNECTIONS = 256
/** Relay: new inbound connections per second from one IP address; more are refused at accept. */
export const RELAY_CONNECTIONS_PER_HOST_PER_SECOND = 20
/** Relay: circuits open at once (each may hold up to about two yamux windows while its target is slow). */
export const RELAY_MAX_CIRCUITS = 1024
/** Relay: circuits one source peer may have open at once. */
export const RELAY_MAX_CIRCUITS_PER_PEER = 64
/** Relay: circuits one source peer may open per second, sustained (bursts of twice this). */
export const RELAY_MAX_CIRCUITS_PER_PEER_PER_SECOND = 20
/** Relay: how long a peer that floods the relay with circuit requests past its rate limit is disconnected and refused (ms). */
export const RELAY_PENALTY = 60_000
/** Relay: the status socket (`peerup relay status`), relative to the config file's directory. */
export const RELAY_STATUS_SOCKET = 'relay.sock'

/** Home node: first retry delay for relay reservations (ms). */
export const RESERVATION_RETRY_MIN = 500
/** Home node: maximum retry delay for relay reservations (ms). */
export const RESERVATION_RETRY_MAX = 5000
/** Home node: how often the watchdog checks that every relay has a live reservation (ms). */
export const RESERVATION_CHECK_INTERVAL = 2000
/** Reservation watchdog: `peerup daemon` repeats an unchanged failure line at most this often (ms). */
export const RESERVATION_REPORT_INTERVAL = 60_000

/** Dial timeout for one path (ms). */
export const DIAL_TIMEOUT = 10_000

/** Direct upgrade: how long to wait for identify on a relayed connection (the remote's addresses) (ms). */
export const DIRECT_UPGRADE_IDENTIFY_TIMEOUT = 5000
/** Direct upgrade: time limit of one direct dial to an advertised address (ms). */
export const DIRECT_UPGRADE_DIAL_TIMEOUT = 5000
/** Direct upgrade: how often a superseded relayed connection is checked for remaining tunnels before it is closed (ms). */
export const DIRECT_UPGRADE_RETIRE_CHECK = 1000
/** Direct upgrade: after a failed attempt, how long before the same peer is tried again (ms). */
export const DIRECT_UPGRADE_RETRY = 30_000
/** Ping: pause between two pings (ms). */
export const PING_INTERVAL = 200

/** Grace period on SIGTERM for in-flight tunnels (ms). */
export const SHUTDOWN_GRACE = 10_000

/** authorized_keys: how quickly revocations take effect; also the poll interval (ms). */
export const AUTHORIZED_KEYS_POLL_INTERVAL = 1000

/** How long a client waits for a remote's answer to "why was that tunnel refused?" (a service lookup) (ms). */
export const SERVICE_LOOKUP_TIMEOUT = 5000

/** Refusals logged on stderr (home denials, `proxy` failures): at most one line per peer and service per this long (ms). */
export const REFUSAL_REPORT_INTERVAL = 10_000

/** Default listen addresses of a home/client node whose config has no `network.listen` (a new port on every start). */
export const DEFAULT_NODE_LISTEN = ['/ip4/0.0.0.0/tcp/0']
/** TCP port that `peerup init` writes for a home or client, so a port forward or an announced address keeps working across restarts. */
export const DEFAULT_NODE_PORT = 4001
/** Listen addresses that `peerup init` writes for a home or client. */
export const INIT_NODE_LISTEN = [`/ip4/0.0.0.0/tcp/${DEFAULT_NODE_PORT}`]
/** Default listen addresses of a relay. */
export const DEFAULT_RELAY_LISTEN = ['/ip4/0.0.0.0/tcp/7777', '/ip4/0.0.0.0/tcp/7778/ws']

/** Name cache TTL (ms). */
export const NAME_CACHE_TTL = 5 * 60 * 1000
/** Negative name cache TTL (ms). */
export const NAME_NEGATIVE_CACHE_TTL = 10 * 1000

/** Request/response protocols (`wire/json-exchange.ts`): largest JSON message accepted (bytes). */
export const MAX_JSON_MESSAGE = 64 * 1024
/** Request/response protocols: how long a request waits for its reply (ms). */
export const JSON_REPLY_TIMEOUT = 10_000
/** Request/response protocols: concurrent inbound request streams per connection and protocol. */
export const JSON_MAX_INBOUND_STREAMS = 256

/** Virtual IPs: the network that peers are mapped into (`10.64.0.0/16`). */
export const VIP_NETWORK = '10.64.0.0'
/** Virtual IPs: prefix length of {@link VIP_NETWORK}. */
export const VIP_PREFIX_LENGTH = 16
/** Virtual IPs: addresses never handed to a peer (`10.64.0.1` is the TUN interface's own address, `gateway.tun`). */
export const VIP_RESERVED = ['10.64.0.1']
/** Virtual IPs: the table file in the config directory. */
export const VIP_TABLE_FILE = 'vip-table.json'
/** The name cache (relay-tier answers), relative to the config directory; shared by one-shot CLI runs and read by `peerup status` for peer names. */
export const NAME_CACHE_FILE = '.cache/names.json'
/** Virtual IPs: names remembered per peer (for PTR answers); the newest wins. */
export const VIP_MAX_NAMES_PER_PEER = 8

/** SOCKS5 gateway: default listen address. */
export const SOCKS_LISTEN = '127.0.0.1:1080'
/** SOCKS5 gateway: connections (handshaking and tunnelled) open at once. */
export const SOCKS_MAX_CONNECTIONS = 1024
/** SOCKS5 gateway: time from accept until the reply is sent (ms). */
export const SOCKS_HANDSHAKE_TIMEOUT = 10_000
/** SOCKS5 gateway: how long a connection lingers after a failure reply before it is destroyed (ms). */
export const SOCKS_FAILURE_LINGER = 1000

/** DNS gateway: default listen address (UDP and TCP). */
export const DNS_LISTEN = '127.0.0.1:5353'
/** DNS gateway: TTL of answers and of negative answers (s). */
export const DNS_TTL = 60
/** DNS gateway: zones under which `<host>.<network>` names are answered. */
export const DNS_SUFFIXES = ['p2p']
/** DNS gateway: what to do with names outside our zones. */
export const DNS_UPSTREAM: 'refuse' | 'system' = 'refuse'
/** DNS gateway: the UDP payload size we advertise in EDNS answers and the most we ever send over UDP. */
export const DNS_MAX_UDP_PAYLOAD = 1232
/** DNS gateway: queries being answered at once (name resolution in flight); more get SERVFAIL. */
export const DNS_MAX_IN_FLIGHT = 256
/** DNS gateway: TCP connections open at once; more are closed at accept. */
export const DNS_MAX_TCP_CONNECTIONS = 128
/** DNS gateway: an idle TCP connection (or one stuck mid-frame) is closed after this long (ms). */
export const DNS_TCP_IDLE_TIMEOUT = 10_000
/** DNS gateway: time limit for resolving one name (ms). */
export const DNS_RESOLVE_TIMEOUT = 4000
/** DNS gateway: time limit for one upstream server to answer a forwarded query (ms). */
export const DNS_UPSTREAM_TIMEOUT = 2000

/** Relay: UDP port of the STUN responder (RFC 5389 Binding). */
export const STUN_PORT = 3478
/** Relay: STUN Binding requests answered per second per source IP. */
export const STUN_RATE_PER_SECOND = 20
/** Relay: STUN token bucket size per source IP. */
export const STUN_RATE_BURST = 40
/** Relay: how often the STUN responder re-reads the local addresses, to answer on added ones and let go of removed ones (ms). */
export const STUN_RESCAN_INTERVAL = 30_000
/** Nodes: how long a STUN check waits for an answer (ms); the request is re-sent at 0.5 s and 1.5 s (RFC 5389 RTO). */
export const STUN_PROBE_TIMEOUT = 2500

/** Paths: how long one background attempt at a direct UDP (WebRTC) connection may take (ms); above libp2p's 6 s per-address timeout, which a relay-signalled dial (signalling, ICE, DTLS, SCTP) can exceed. */
export const DIRECT_UPGRADE_TIMEOUT = 15_000
/** Paths: first retry delay of the direct-path upgrade (ms). */
export const DIRECT_UPGRADE_RETRY_MIN = 2_000
/** Paths: maximum retry delay of the direct-path upgrade (ms). */
export const DIRECT_UPGRADE_RETRY_MAX = 60_000
/** Paths: how often a direct UDP connection's liveness is checked (ms). */
export const DIRECT_HEALTH_INTERVAL = 1_000
/** Paths: a direct UDP connection that fails a liveness check within this time (ms) is dropped and new tunnels use the relay. */
export const DIRECT_HEALTH_TIMEOUT = 1_500
/** Paths: how long opening a tunnel stream on a direct UDP connection may take before the tunnel falls back to the relay (ms). */
export const DIRECT_STREAM_TIMEOUT = 2_000
/** Paths: a direct UDP connection silent this long (ms) is closed and the upgrade retried. */
export const DIRECT_DEAD_TIMEOUT = 10_000
/**
 * Paths: read buffer of a tunnel stream on a direct UDP (WebRTC) connection (bytes).
 * WebRTC data channels in js-libp2p have no receive backpressure, so a tunnel whose
 * local side reads slower than the peer sends buffers up to this much, then is reset
 * (never silently truncated).
 */
export const UDP_MAX_READ_BUFFER = 64 * 1024 * 1024

/** Control API: the daemon's unix socket, in the config file's directory. */
export const CONTROL_SOCKET_NAME = 'peerup.sock'
/** Control API: the `Upgrade:` token of the tunnel endpoint (framed byte stream, see `src/control/frames.ts`). */
export const CONTROL_TUNNEL_UPGRADE = 'peerup-tunnel/1'
/** Control API: how long a client waits for the daemon to answer a request or open a tunnel (ms). */
export const CONTROL_REQUEST_TIMEOUT = 30_000
/** Control API: the daemon pauses a client's input when the tunnel's local read buffer passes this many bytes. */
export const CONTROL_HIGH_WATER_MARK = 256 * 1024

/** TUN mode: the protocol of the per-peer IP packet stream. */
export const TUN_PROTOCOL = '/peerup/ip/1.0.0'
/** TUN mode: default interface name. */
export const TUN_INTERFACE = 'peer0'
/**
 * TUN mode: default MTU. Packets ride a reliable, encrypted stream (no outer
 * IP header, no fragmentation), so the MTU is bounded only by the 2-byte frame
 * length; a large MTU means fewer packets per byte, which is what costs CPU.
 */
export const TUN_MTU = 16384
/** TUN mode: a peer stream's write buffer (bytes) above which packets to that peer are dropped, as a full link queue does. */
export const TUN_MAX_WRITE_BUFFER = 4 * 1024 * 1024
/** TUN mode: after failing to open a peer's stream, packets to it get ICMP unreachable for this long before the next try (ms). */
export const TUN_RETRY_INTERVAL = 5000
/** TUN mode: time limit for connecting to a peer and opening its stream (ms). */
export const TUN_OPEN_TIMEOUT = 15_000
/** TUN mode: time limit for opening a link's stream on a better (direct) connection before the link moves onto it (ms). */
export const TUN_MIGRATE_TIMEOUT = 5000
/** TUN mode: batches of packets read from the device and not yet sent on. */
export const TUN_READ_MAX_INFLIGHT = 4
/** TUN mode: bytes per batch read from the device. */
export const TUN_READ_BATCH_BYTES = 256 * 1024

/**
 * Lost-wakeup watchdog of tunnel and circuit streams (`stream-kick.ts`): how
 * often stalled write paths are checked (ms). A stall costs up to two ticks.
 * At 200 ms, relayed 128 MiB transfers that kept stalling fell to 9-13 MiB/s
 * in 3 of 12 runs; at 50 ms none fell below 31 MiB/s in the same
 * interleaved A/B (at load 7, so absolute numbers are low).
 */
export const STREAM_KICK_INTERVAL = 50

// node/ and paths/ (issue #20 split)
/** Protocol of libp2p ping: `peerup ping` and the direct UDP liveness check echo on it. */
export const PING_PROTOCOL = '/ipfs/ping/1.0.0'
/** Bytes of one ping (the ping protocol echoes 32-byte payloads). */
export const PING_PAYLOAD_BYTES = 32
/** Time limit of one `ping` echo (ms). */
export const PING_TIMEOUT = 10_000
/** Protocol of circuit relay v2 STOP streams (a relayed connection rides on one). */
export const RELAY_STOP_PROTOCOL = '/libp2p/circuit/relay/0.2.0/stop'
/** Longest wait at stop for a just-finished tunnel's last window update before connections close (ms). */
export const STOP_SETTLE_MAX = 500
/** Least time given at stop to connections and circuits to close at the far end (ms). */
export const STOP_CLOSE_MIN = 2000

// ---- relay/hop (#20: defaults that were literals in hop-server.ts) ----
/** Relay HOP server: time limit of one HOP/STOP handshake (ms). */
export const HOP_HANDSHAKE_TIMEOUT = 10_000
/** Relay HOP server: largest circuit message (HOP or STOP) accepted, in bytes. */
export const HOP_MAX_MESSAGE = 4096
/** Relay HOP server: HOP streams in, and STOP streams out, at once per connection. */
export const HOP_MAX_STREAMS = 4096
/** Relay HOP server: how often expired reservations, idle rate buckets and served penalties are swept (ms). */
export const HOP_SWEEP_INTERVAL = 60_000
/** Relay HOP server: a source peer's rate bucket is forgotten after this long without a circuit request (ms). */
export const HOP_RATE_BUCKET_IDLE = 60_000

// ---- naming (#20: defaults that were literals in relay-resolver.ts and dht-resolver.ts) ----
/** Names: time limit for one relay's answer to a resolve or a register, dial included (ms). */
export const NAME_RELAY_TIMEOUT = 5000
/** Names: time limit for one DHT peer lookup, all attempts together (ms). */
export const NAME_DHT_TIMEOUT = 5000
/** Names: DHT lookups tried before giving up (the routing table fills once identify has run). */
export const NAME_DHT_ATTEMPTS = 10
/** Names: pause between DHT lookup attempts (ms). */
export const NAME_DHT_RETRY_INTERVAL = 100
