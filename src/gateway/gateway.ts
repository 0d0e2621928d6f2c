import { logger } from '@libp2p/logger'
import { DNS_LISTEN, DNS_SUFFIXES, SOCKS_LISTEN, VIP_TABLE_FILE } from '../constants.js'
import { parseName } from '../naming/name.js'
import { readNamesFile } from '../naming/local-file-resolver.js'
import { parsePeerId } from '../auth/identity.js'
import { describePath } from '../paths/dialer.js'
import { multiaddr } from '@multiformats/multiaddr'
import type { LocalName } from '../naming/local-file-resolver.js'
import type { PeerupLibp2p } from '../network/network.js'
import { createAuthorizedKeys } from '../auth/authorized-keys.js'
import { startTunMode } from '../tun/tun-mode.js'
import { createDnsGateway } from './dns/server.js'
import { createSocksGateway } from './socks5/server.js'
import { createVirtualIpTable } from './virtual-ip.js'
import type { DnsGateway } from './dns/server.js'
import type { SocksGateway } from './socks5/server.js'
import type { VirtualIpTable } from './virtual-ip.js'
import type { LoadedConfig } from '../config/load.js'
import type { PeerupNode } from '../node/node.js'
import type { TunEvent, TunMode } from '../tun/tun-mode.js'
import type { AbortOptions } from '@libp2p/interface'

const log = logger('peerup:gateway')

/**
 * Which gateways {@link startGateways} starts. For each: `undefined` follows
 * the config (started when its section is present), `true` starts it with
 * the config's settings (or the defaults), a string starts it on that
 * `host:port`, `false` leaves it off.
 */
export interface GatewayOptions {
  socks?: boolean | string
  dns?: boolean | string
  /** TUN mode: `true` starts it with the config's `gateway.tun` settings (or the defaults). */
  tun?: boolean
  /** Reports TUN mode's dropped packets and unreachable peers (e.g. to log them). */
  onTunEvent?: (event: TunEvent) => void
}

/** The running gateways of a node. */
export interface Gateways {
  /** The virtual-IP table they share. */
  readonly vips: VirtualIpTable
  /** This node's own virtual IP. */
  readonly vip: string
  readonly socks?: SocksGateway
  readonly dns?: DnsGateway
  readonly tun?: TunMode
  /** Stop every gateway (the node keeps running). */
  stop: () => Promise<void>
}

function wanted (option: boolean | string | undefined, configured: boolean): { on: boolean, listen?: string } {
  if (typeof option === 'string') return { on: true, listen: option }
  return { on: option ?? configured }
}

/**
 * Start the gateway modes of a started node from its config's `gateway:`
 * section (and `options`): the SOCKS5 proxy, the DNS server and TUN mode, sharing one
 * virtual-IP table persisted as `vip-table.json` next to the config. Used by
 * `peerup daemon` and `peerup gateway`.
 */
export async function startGateways (node: Pick<PeerupNode, 'peerId' | 'resolve' | 'openTunnel'> & Partial<Pick<PeerupNode, 'connect' | 'libp2p' | 'outbound'>>, config: LoadedConfig, options: GatewayOptions = {}): Promise<Gateways> {
  const section = config.config.gateway ?? {}
  const { name: network, host } = config.config.network
  const vips = createVirtualIpTable({ file: config.path(VIP_TABLE_FILE) })
  const ownName = network != null && host != null ? `${host}.${network}` : undefined
  const s = wanted(options.socks, section.socks != null)
  const d = wanted(options.dns, section.dns != null)
  const t = options.tun ?? section.tun != null
  if (!s.on && !d.on && !t) {
    // no gateway: leave the table file alone
    return { vips, vip: vips.byPeer(node.peerId)?.ip ?? vips.preferred(node.peerId), stop: async () => {} }
  }
  const vip = vips.assign(node.peerId, ownName)
  // our own name resolves to us even before the relay has registered it
  const resolve = async (name: string, opts?: AbortOptions): Promise<{ peerId: string }> => {
    if (ownName != null && parseName(name).canonical === ownName) return { peerId: node.peerId }
    return await node.resolve(name, opts)
  }
  const suffixes = section.dns?.suffixes ?? DNS_SUFFIXES
  let socks: SocksGateway | undefined
  let dns: DnsGateway | undefined
  let tun: TunMode | undefined
  let tunAllow: ReturnType<typeof createAuthorizedKeys> | undefined
  const stop = async (): Promise<void> => {
    await Promise.all([socks?.stop(), dns?.stop(), tun?.stop()])
    tunAllow?.close()
  }
  try {
    if (s.on) {
      const c = section.socks
      socks = createSocksGateway({
        listen: s.listen ?? c?.listen ?? SOCKS_LISTEN,
        passthrough: c?.passthrough,
        username: c?.username,
        password: c?.password,
        maxConnections: c?.max_connections,
        handshakeTimeout: c?.handshake_timeout_seconds != null ? c.handshake_timeout_seconds * 1000 : undefined,
        suffixes
      }, { node, vips })
      await socks.start()
    }
    if (d.on) {
      const c = section.dns
      dns = createDnsGateway({
        listen: d.listen ?? c?.listen ?? DNS_LISTEN,
        ttl: c?.ttl,
        suffixes,
        bareNetworks: c?.bare_names === true ? [...(network != null ? [network] : []), ...Object.keys(config.config.networks)] : [],
        upstream: c?.upstream
      }, { resolve, vips })
      await dns.start()
    }
    if (t) {
      const { libp2p } = node
      if (libp2p == null || node.connect == null) throw new TypeError('TUN mode needs a full PeerupNode (libp2p and connect)')
      const connect = node.connect.bind(node)
      const c = section.tun
      // who may send IP: gateway.tun.allow, else the global authorized_keys
      tunAllow = createAuthorizedKeys({ file: config.path(c?.allow ?? config.config.security.authorized_keys_file) })
      // the names file's direct addresses let a TUN link go direct instead of through a relay
      await seedKnownAddresses(libp2p, vips, readNamesFile(config.path(config.config.names_file)), tunAllow)
      tun = await startTunMode({ interface: c?.interface, mtu: c?.mtu, address: vip, prefer: config.config.paths.prefer, onEvent: options.onTunEvent }, {
        libp2p,
        peerId: node.peerId,
        vips,
        allow: tunAllow,
        open: async (peerId, protocol, opts) => {
          const { connection, path } = await connect(peerId, opts)
          const stream = await connection.newStream(protocol, { runOnLimitedConnection: true, signal: opts.signal })
          return { stream, path: describePath(path) }
        }
      })
    }
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
  log('gateways up: socks %s, dns %s, tun %s, own virtual IP %s', socks != null ? `${socks.address.host}:${socks.address.port}` : 'off', dns != null ? `${dns.address.host}:${dns.address.port}` : 'off', tun?.interface ?? 'off', vip)
  return { vips, vip, socks, dns, tun, stop }
}

/**
 * Put the names file's peers that may use TUN mode into the virtual-IP table
 * (with their names, for PTR answers) and their direct addresses into the
 * peer store, where the dialer finds them when a TUN link opens.
 */
async function seedKnownAddresses (libp2p: PeerupLibp2p, vips: VirtualIpTable, names: LocalName[], allow: { isAuthorized: (peerId: string) => boolean }): Promise<void> {
  for (const n of names) {
    if (!allow.isAuthorized(n.peerId)) continue
    vips.assign(n.peerId, n.name)
    if (n.addrs.length === 0) continue
    try {
      await libp2p.peerStore.merge(parsePeerId(n.peerId), { multiaddrs: n.addrs.map(a => multiaddr(a)) })
    } catch (err: any) {
      log('cannot seed addresses of %s: %s', n.name, err.message)
    }
  }
}
