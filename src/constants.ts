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

/** yamux: initial per-stream receive window (bytes). Larger than the spec's 256 KiB so bulk transfers start fast. */
export const YAMUX_INITIAL_WINDOW = 4 * 1024 * 1024
/** yamux: maximum per-stream receive window (bytes). */
export const YAMUX_MAX_WINDOW = 16 * 1024 * 1024
/** yamux: read buffer a paused stream may hold before it is reset; must exceed the window (PITFALLS 8). */
export const YAMUX_MAX_READ_BUFFER = 2 * YAMUX_MAX_WINDOW + 1024 * 1024
/** yamux: per-stream write buffer cap; our proxy stops reading its source well before this. */
export const YAMUX_MAX_WRITE_BUFFER = 64 * 1024 * 1024
/** Streams per connection (inbound and outbound). */
export const MAX_STREAMS_PER_CONNECTION = 4096
/** Streams per service protocol per connection. */
export const MAX_STREAMS_PER_PROTOCOL = 2048

/** Proxy: pause the TCP source when the stream's write buffer passes this many bytes. */
export const PROXY_HIGH_WATER_MARK = 1024 * 1024
/** Idle timeout for a tunnel stream (ms); 0 disables it. SSH sessions may idle for hours. */
export const TUNNEL_INACTIVITY_TIMEOUT = 0

/** Relay: maximum concurrent reservations. */
export const RELAY_MAX_RESERVATIONS = 1024
/** Relay: reservation TTL (ms). */
export const RELAY_RESERVATION_TTL = 2 * 60 * 60 * 1000
/** Relay: default connection limit per relay (connection manager). */
export const RELAY_MAX_CONNECTIONS = 4096

/** Home node: first retry delay for relay reservations (ms). */
export const RESERVATION_RETRY_MIN = 500
/** Home node: maximum retry delay for relay reservations (ms). */
export const RESERVATION_RETRY_MAX = 5000
/** Home node: how often the watchdog checks that every relay has a live reservation (ms). */
export const RESERVATION_CHECK_INTERVAL = 2000

/** Dial timeout for one path (ms). */
export const DIAL_TIMEOUT = 10_000
/** How long a dialer waits for a relayed connection before giving up (ms). */
export const RELAY_DIAL_TIMEOUT = 10_000

/** Grace period on SIGTERM for in-flight tunnels (ms). */
export const SHUTDOWN_GRACE = 10_000

/** authorized_keys: how quickly revocations take effect; also the poll interval (ms). */
export const AUTHORIZED_KEYS_POLL_INTERVAL = 1000

/** Default listen addresses of a home/client node. */
export const DEFAULT_NODE_LISTEN = ['/ip4/0.0.0.0/tcp/0']
/** Default listen addresses of a relay. */
export const DEFAULT_RELAY_LISTEN = ['/ip4/0.0.0.0/tcp/7777', '/ip4/0.0.0.0/tcp/7778/ws']

/** Name cache TTL (ms). */
export const NAME_CACHE_TTL = 5 * 60 * 1000
/** Negative name cache TTL (ms). */
export const NAME_NEGATIVE_CACHE_TTL = 10 * 1000
