import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import {
  DNS_LISTEN, DNS_SUFFIXES, DNS_TTL, DNS_UPSTREAM, RELAY_CONNECTIONS_PER_HOST_PER_SECOND, RELAY_MAX_CIRCUITS, RELAY_MAX_CIRCUITS_PER_PEER,
  RELAY_MAX_CIRCUITS_PER_PEER_PER_SECOND, RELAY_MAX_CONNECTIONS, RELAY_MAX_PENDING_CONNECTIONS, RELAY_MAX_RESERVATIONS, RELAY_PENALTY, RELAY_RESERVATION_TTL, RELAY_STATUS_SOCKET, SHUTDOWN_GRACE,
  SOCKS_HANDSHAKE_TIMEOUT, SOCKS_LISTEN, SOCKS_MAX_CONNECTIONS, STUN_PORT, STUN_RATE_BURST, STUN_RATE_PER_SECOND, TUN_INTERFACE, TUN_MTU
} from '../constants.js'

/** A DNS label: service names, host and network names. */
export const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

const label = z.string().regex(LABEL_RE, 'a DNS label: a-z, 0-9 and "-", 1-63 characters, not starting or ending with "-"')
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:22')
/** Why `s` is not a multiaddr, or undefined if it is one. */
function multiaddrProblem (s: string): string | undefined {
  try {
    multiaddr(s)
    return undefined
  } catch (err: any) {
    return String(err?.message ?? err).split('\n')[0]
  }
}
const multiaddrStr = z.string()
  .startsWith('/', 'a multiaddr, e.g. /ip4/203.0.113.7/tcp/7777/p2p/12D3KooW…')
  .superRefine((s, ctx) => {
    if (!s.startsWith('/')) return
    const problem = multiaddrProblem(s)
    if (problem != null) ctx.addIssue({ code: 'custom', message: `"${s}" is not a valid multiaddr (${problem}), e.g. /ip4/203.0.113.7/tcp/7777` })
  })
/** An address to announce: a directly dialable TCP or WebSocket address, never a relay circuit. */
const announceAddr = multiaddrStr.refine(s => !s.includes('/p2p-circuit'), 'an address peers can dial directly (a port forward or a DNS name, e.g. /ip4/203.0.113.7/tcp/4001 or /dns4/home.example.net/tcp/4001), not a /p2p-circuit address')
  .refine(s => multiaddrProblem(s) != null || /^\/(ip4|ip6|dns|dns4|dns6)\/[^/]+\/tcp\/\d+(\/(ws|wss|tls\/ws))?(\/p2p\/[^/]+)?$/.test(s),
    'a TCP or WebSocket address: /ip4|ip6|dns|dns4|dns6/<host>/tcp/<port>[/ws]')
/**
 * Why `s` cannot be a relay address (not a multiaddr, no
 * `/p2p/<relay-peer-id>` at its end, or a circuit), or undefined if it can.
 * The message quotes `s` and says how to fix it.
 */
export function relayAddressProblem (s: string): string | undefined {
  const bad = s.startsWith('/') ? multiaddrProblem(s) : 'it does not start with /'
  if (bad != null) return `"${s}" is not a valid multiaddr (${bad}); use the address that \`peerup relay serve\` prints on the relay, e.g. /ip4/203.0.113.7/tcp/7777/p2p/12D3KooW…`
  if (s.includes('/p2p-circuit')) return `"${s}" is a relay circuit; give the relay's own address, as \`peerup relay serve\` prints it on the relay, e.g. /ip4/203.0.113.7/tcp/7777/p2p/12D3KooW…`
  if (!/\/p2p\/[^/]+$/.test(s)) {
    return `"${s}" has no /p2p/<relay-peer-id> at its end (peerup checks the relay's identity with it); ` +
      `use the full address that \`peerup relay serve\` prints on the relay, e.g. ${s.replace(/\/$/, '')}/p2p/12D3KooW… (the relay's \`peerup whoami\` prints its peer ID)`
  }
  return undefined
}
/** A relay's multiaddr, ending in `/p2p/<relay-peer-id>`. */
const relayAddr = multiaddrStr.superRefine((s, ctx) => {
  // a malformed multiaddr is reported once, by multiaddrStr
  const problem = s.startsWith('/') && multiaddrProblem(s) == null ? relayAddressProblem(s) : undefined
  if (problem != null) ctx.addIssue({ code: 'custom', message: problem })
})
const stunUrl = z.string().regex(/^(stun:)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/, 'a STUN server: stun:host:port or host:port, e.g. stun:203.0.113.7:3478')
const protocolId = z.string().regex(/^\/[\x21-\x7e]{1,200}$/, 'a protocol ID such as /my/proto/1.0.0')

/** One exposed service. */
export const serviceSchema = z.strictObject({
  local_address: hostPort,
  enabled: z.boolean().default(true),
  authorized_keys: z.string().min(1).optional(),
  protocol: protocolId.optional()
})

/** The `security:` section. */
export const securitySchema = z.strictObject({
  authorized_keys_file: z.string().min(1).default('authorized_keys'),
  enable_gating: z.boolean().default(true)
})

/** The `network:` section. */
export const networkSchema = z.strictObject({
  name: label.optional(),
  host: label.optional(),
  listen: z.array(multiaddrStr).optional(),
  announce: z.array(announceAddr).default([]),
  dht: z.boolean().default(true),
  /** Map the TCP listen port on the router with UPnP IGD and announce the mapped address (opens a port: off by default). */
  upnp: z.boolean().default(false),
  /** STUN servers for direct UDP paths; absent: the relays' own (`stun:<relay-host>:3478`). */
  stun: z.array(stunUrl).optional()
})

/** The `paths:` section: which path new tunnels take. */
export const pathsSchema = z.strictObject({
  prefer: z.enum(['direct', 'relay']).default('direct'),
  udp: z.boolean().default(true)
})

/** The `relay:` section (relay role). */
export const relayServerSchema = z.strictObject({
  max_reservations: z.number().int().positive().default(RELAY_MAX_RESERVATIONS),
  reservation_ttl_seconds: z.number().int().positive().default(RELAY_RESERVATION_TTL / 1000),
  name_registry: z.boolean().default(true),
  engine: z.enum(['peerup', 'stock']).default('peerup'),
  registry_file: z.string().min(1).default('names-registry.json'),
  limits: z.strictObject({
    data_bytes: z.number().int().positive().optional(),
    duration_seconds: z.number().int().positive().optional()
  }).default({}),
  max_circuits: z.number().int().positive().default(RELAY_MAX_CIRCUITS),
  max_circuits_per_peer: z.number().int().positive().default(RELAY_MAX_CIRCUITS_PER_PEER),
  max_circuits_per_peer_per_second: z.number().int().positive().default(RELAY_MAX_CIRCUITS_PER_PEER_PER_SECOND),
  max_connections: z.number().int().positive().default(RELAY_MAX_CONNECTIONS),
  max_pending_connections: z.number().int().positive().default(RELAY_MAX_PENDING_CONNECTIONS),
  connections_per_host_per_second: z.number().int().positive().default(RELAY_CONNECTIONS_PER_HOST_PER_SECOND),
  penalty_seconds: z.number().int().min(0).default(RELAY_PENALTY / 1000),
  /** Serve Prometheus `/metrics` on this TCP address (off by default). */
  metrics_listen: hostPort.optional(),
  /** `peerup relay status` socket; false turns it off. */
  status_socket: z.union([z.string().min(1), z.literal(false)]).default(RELAY_STATUS_SOCKET),
  stun: z.strictObject({
    enabled: z.boolean().default(true),
    port: z.number().int().min(0).max(65535).default(STUN_PORT),
    /** Unset: one socket per address the relay listens on (a wildcard listen: every local address), so each answer leaves from the address it was asked at. */
    host: z.string().min(1).optional(),
    rate_per_second: z.number().positive().default(STUN_RATE_PER_SECOND),
    burst: z.number().int().positive().default(STUN_RATE_BURST)
  }).default({ enabled: true, port: STUN_PORT, rate_per_second: STUN_RATE_PER_SECOND, burst: STUN_RATE_BURST })
})

/** The `daemon:` section. */
export const daemonSchema = z.strictObject({
  shutdown_grace_seconds: z.number().min(0).default(SHUTDOWN_GRACE / 1000),
  allow_hosts: z.array(z.string()).default([]),
  /** Serve Prometheus `/metrics` on this TCP address too (off by default; the control socket always serves it). */
  metrics_listen: hostPort.optional()
})

const rfc1929 = z.string().min(1).refine(s => Buffer.byteLength(s) <= 255, 'at most 255 bytes (RFC 1929)')
const dnsZone = z.string().regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a DNS zone such as p2p or mesh.example.net')
/** YAML `socks:` with nothing under it means "on, with the defaults". */
const emptyIsDefaults = (v: unknown): unknown => v === null ? {} : v

/** The `gateway.socks:` section: the SOCKS5 proxy into the mesh. */
export const socksGatewaySchema = z.strictObject({
  listen: hostPort.default(SOCKS_LISTEN),
  passthrough: z.boolean().default(false),
  username: rfc1929.optional(),
  password: rfc1929.optional(),
  max_connections: z.number().int().positive().default(SOCKS_MAX_CONNECTIONS),
  handshake_timeout_seconds: z.number().positive().default(SOCKS_HANDSHAKE_TIMEOUT / 1000)
}).refine(s => (s.username == null) === (s.password == null), 'set both username and password, or neither')

/** The `gateway.dns:` section: the DNS server for `<host>.<network>.p2p`. */
export const dnsGatewaySchema = z.strictObject({
  listen: hostPort.default(DNS_LISTEN),
  ttl: z.number().int().min(0).max(2147483647).default(DNS_TTL),
  suffixes: z.array(dnsZone).min(1).default(DNS_SUFFIXES),
  bare_names: z.boolean().default(false),
  upstream: z.enum(['refuse', 'system']).default(DNS_UPSTREAM)
})

/** The `gateway.tun:` section: TUN mode, a layer-3 mesh on the virtual-IP network (Linux, root or CAP_NET_ADMIN). */
export const tunGatewaySchema = z.strictObject({
  interface: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'an interface name: 1-15 characters of A-Z, a-z, 0-9, "_", "-", "."').default(TUN_INTERFACE),
  mtu: z.number().int().min(576).max(65535).default(TUN_MTU),
  allow: z.string().min(1).optional()
})

/** The `gateway:` section: SOCKS5, DNS and TUN gateways (a present subsection turns that gateway on under `peerup daemon`). */
export const gatewaySchema = z.strictObject({
  socks: z.preprocess(emptyIsDefaults, socksGatewaySchema.optional()),
  dns: z.preprocess(emptyIsDefaults, dnsGatewaySchema.optional()),
  tun: z.preprocess(emptyIsDefaults, tunGatewaySchema.optional())
})

/** A peerup config file (`config.yaml`), for every role. */
export const configSchema = z.strictObject({
  version: z.literal(1).default(1),
  role: z.enum(['relay', 'home', 'client']),
  identity: z.strictObject({ key_file: z.string().min(1).default('identity.key') }).default({ key_file: 'identity.key' }),
  network: networkSchema.default({ announce: [], dht: true, upnp: false }),
  relays: z.array(relayAddr).default([]),
  networks: z.record(label, z.strictObject({ relays: z.array(relayAddr).min(1) })).default({}),
  security: securitySchema.default({ authorized_keys_file: 'authorized_keys', enable_gating: true }),
  names_file: z.string().min(1).default('names.yaml'),
  services: z.record(label, serviceSchema).default({}),
  relay: relayServerSchema.optional(),
  paths: pathsSchema.default({ prefer: 'direct', udp: true }),
  daemon: daemonSchema.default({ shutdown_grace_seconds: SHUTDOWN_GRACE / 1000, allow_hosts: [] }),
  gateway: z.preprocess(emptyIsDefaults, gatewaySchema.optional())
})

/** A parsed config file. */
export type PeerupConfig = z.infer<typeof configSchema>
/** One service of a config file. */
export type ServiceConfig = z.infer<typeof serviceSchema>
/** The `gateway:` section of a config file. */
export type GatewayConfig = z.infer<typeof gatewaySchema>

/** One entry of the names file. */
export const nameEntrySchema = z.union([
  z.string().min(1),
  z.strictObject({
    peer_id: z.string().min(1),
    addrs: z.array(multiaddrStr).default([])
  })
])

/** The names file (`names.yaml`): tier-1 name resolution. */
export const namesFileSchema = z.strictObject({
  names: z.record(z.string().min(1), nameEntrySchema).default({})
})

/** A parsed names file. */
export type NamesFile = z.infer<typeof namesFileSchema>
