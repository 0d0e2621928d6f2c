import { createSocket } from 'node:dgram'
import { createServer, isIPv6 } from 'node:net'
import { logger } from '@libp2p/logger'
import {
  DNS_LISTEN, DNS_MAX_IN_FLIGHT, DNS_MAX_TCP_CONNECTIONS, DNS_MAX_UDP_PAYLOAD, DNS_RESOLVE_TIMEOUT,
  DNS_SUFFIXES, DNS_TCP_IDLE_TIMEOUT, DNS_TTL, DNS_UPSTREAM, DNS_UPSTREAM_TIMEOUT
} from '../../constants.js'
import { LABEL_RE } from '../../config/schema.js'
import { parseHostPort } from '../../services/service-registry.js'
import { DNS_CLASS, DNS_CLASSIC_UDP_LIMIT, DNS_HEADER_SIZE, DNS_RCODE, DNS_TYPE, encodeDnsAnswer, parseDnsQuery } from './message.js'
import { forwardDnsQuery, systemDnsServers } from './forwarder.js'
import type { DnsAnswer, DnsQuery, DnsRecord } from './message.js'
import type { DnsServerAddress } from './forwarder.js'
import type { VirtualIpTable } from '../virtual-ip.js'
import type { AbortOptions } from '@libp2p/interface'
import type { Socket as UdpSocket } from 'node:dgram'
import type { Server, Socket } from 'node:net'

const log = logger('peerup:gateway:dns')

/** Components of the DNS gateway. */
export interface DnsGatewayComponents {
  /**
   * Resolve a mesh name (`host.network`) to a peer ID: the node's resolver
   * chain. Rejects with `NameNotFoundError` (or `InvalidNameError`) for
   * names that do not exist; any other error becomes SERVFAIL.
   */
  resolve: (name: string, options?: AbortOptions) => Promise<{ peerId: string }>
  /** The virtual-IP table shared with the other gateways. */
  vips: VirtualIpTable
}

/** Init of {@link createDnsGateway}. */
export interface DnsGatewayInit {
  /**
   * UDP and TCP listen address (`host:port`; port 0 picks a free port that
   * both transports share).
   *
   * @default '127.0.0.1:5353'
   */
  listen?: string
  /**
   * TTL of answers and of negative answers (s).
   *
   * @default 60
   */
  ttl?: number
  /**
   * Zones under which `<host>.<network>` names are answered.
   *
   * @default ['p2p']
   */
  suffixes?: string[]
  /** Networks whose names are also answered without a suffix (`<host>.<network>`). @default [] */
  bareNetworks?: string[]
  /**
   * Names outside our zones: `refuse` answers REFUSED, `system` forwards the
   * query to the system's resolvers.
   *
   * @default 'refuse'
   */
  upstream?: 'refuse' | 'system'
  /** Upstream servers for `upstream: system`. @default the system's resolvers */
  upstreamServers?: DnsServerAddress[]
  /**
   * Queries being resolved or forwarded at once; more get SERVFAIL.
   *
   * @default 256
   */
  maxInFlight?: number
  /**
   * TCP connections open at once; more are closed on accept.
   *
   * @default 128
   */
  maxTcpConnections?: number
  /**
   * A TCP connection that is idle, or sits on a partial frame, this long is closed (ms).
   *
   * @default 10000
   */
  tcpIdleTimeout?: number
  /**
   * Time limit for resolving one name (ms); past it the answer is SERVFAIL.
   *
   * @default 4000
   */
  resolveTimeout?: number
  /**
   * Time limit for one upstream server (ms).
   *
   * @default 2000
   */
  upstreamTimeout?: number
}

/** A running DNS gateway. */
export interface DnsGateway {
  /** The bound address (UDP and TCP share it); valid after `start()`. */
  readonly address: { host: string, port: number }
  start: () => Promise<void>
  stop: () => Promise<void>
  /**
   * Answer one wire-format query as if it came over UDP (or TCP);
   * `undefined` means no answer is sent.
   */
  answer: (query: Uint8Array, options?: { tcp?: boolean }) => Promise<Uint8Array | undefined>
}

interface Zone {
  /** Lower-case labels of the apex. */
  labels: string[]
  kind: 'suffix' | 'network' | 'reverse'
}

const MAX_TCP_MESSAGE = 0xffff
/** Queries one TCP connection may have outstanding. */
const MAX_TCP_PIPELINE = 32
/** Answers one TCP connection may leave unread before it is dropped. */
const MAX_TCP_WRITE_BACKLOG = 256 * 1024

class Gateway implements DnsGateway {
  address: { host: string, port: number }
  private readonly ttl: number
  private readonly zones: Zone[]
  private readonly upstream: 'refuse' | 'system'
  private readonly maxInFlight: number
  private inFlight = 0
  private readonly pending = new Map<string, Promise<string | null>>()
  private udp?: UdpSocket
  private tcp?: Server
  private readonly connections = new Set<Socket>()
  private readonly shutdown = new AbortController()

  constructor (private readonly init: DnsGatewayInit, private readonly components: DnsGatewayComponents) {
    this.address = parseHostPort(init.listen ?? DNS_LISTEN)
    this.ttl = init.ttl ?? DNS_TTL
    this.upstream = init.upstream ?? DNS_UPSTREAM
    this.maxInFlight = init.maxInFlight ?? DNS_MAX_IN_FLIGHT
    const split = (z: string): string[] => z.toLowerCase().replace(/^\.+|\.+$/g, '').split('.').filter(l => l !== '')
    const octets = components.vips.cidr.split('/')[0].split('.')
    this.zones = [
      ...(init.suffixes ?? DNS_SUFFIXES).map(z => ({ labels: split(z), kind: 'suffix' as const })),
      ...(init.bareNetworks ?? []).map(n => ({ labels: split(n), kind: 'network' as const })),
      // the /16's reverse zone: 64.10.in-addr.arpa
      { labels: [octets[1], octets[0], 'in-addr', 'arpa'], kind: 'reverse' as const }
    ].filter(z => z.labels.length > 0)
    // longest apex first, so the most specific zone wins
    this.zones.sort((a, b) => b.labels.length - a.labels.length)
  }

  async start (): Promise<void> {
    const wanted = this.address
    // port 0: UDP picks a port, TCP must get the same one; retry if someone else holds it
    for (let attempt = 0; ; attempt++) {
      const udp = createSocket({ type: isIPv6(wanted.host) ? 'udp6' : 'udp4' })
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject)
        udp.bind(wanted.port, wanted.host, () => { udp.off('error', reject); resolve() })
      }).catch((err: Error) => { throw new Error(`DNS gateway: cannot listen on udp ${wanted.host}:${wanted.port}: ${err.message}`, { cause: err }) })
      const port = udp.address().port
      const tcp = createServer({ allowHalfOpen: true }, (s) => { this.onTcp(s) })
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject)
          tcp.listen(port, wanted.host, () => { tcp.off('error', reject); resolve() })
        })
      } catch (err: any) {
        udp.close()
        if (wanted.port === 0 && err.code === 'EADDRINUSE' && attempt < 10) continue
        throw new Error(`DNS gateway: cannot listen on tcp ${wanted.host}:${port}: ${err.message}`, { cause: err })
      }
      udp.on('error', (err) => { log.error('udp socket error: %s', err.message) })
      udp.on('message', (msg, rinfo) => { this.onUdp(msg, rinfo) })
      tcp.on('error', (err) => { log.error('tcp server error: %s', err.message) })
      this.udp = udp
      this.tcp = tcp
      this.address = { host: wanted.host, port }
      log('listening on %s:%d (udp+tcp), zones %s', wanted.host, port, this.zones.map(z => z.labels.join('.')).join(', '))
      return
    }
  }

  async stop (): Promise<void> {
    this.shutdown.abort()
    for (const s of this.connections) s.destroy()
    const udp = this.udp
    const tcp = this.tcp
    this.udp = undefined
    this.tcp = undefined
    if (udp != null) await new Promise<void>(resolve => { udp.close(() => { resolve() }) })
    if (tcp != null) await new Promise<void>(resolve => { tcp.close(() => { resolve() }) })
  }

  private onUdp (msg: Buffer, rinfo: { address: string, port: number }): void {
    this.answer(msg, { tcp: false }).then(out => {
      if (out == null || this.udp == null) return
      this.udp.send(out, rinfo.port, rinfo.address, (err) => { if (err != null) log('udp send to %s:%d failed: %s', rinfo.address, rinfo.port, err.message) })
    }, (err: Error) => { log.error('udp query failed: %s', err.message) })
  }

  private onTcp (sock: Socket): void {
    sock.on('error', () => {})
    if (this.connections.size >= (this.init.maxTcpConnections ?? DNS_MAX_TCP_CONNECTIONS)) {
      sock.destroy()
      return
    }
    this.connections.add(sock)
    sock.once('close', () => { this.connections.delete(sock) })
    const idle = this.init.tcpIdleTimeout ?? DNS_TCP_IDLE_TIMEOUT
    sock.setTimeout(idle, () => { sock.destroy() })
    let buf: Buffer = Buffer.alloc(0)
    let outstanding = 0
    let ended = false
    // a frame must complete within the idle timeout of its first byte (no slow drip)
    let frameTimer: NodeJS.Timeout | undefined
    const setFrameTimer = (): void => {
      if (buf.length === 0) {
        clearTimeout(frameTimer)
        frameTimer = undefined
      } else {
        frameTimer ??= setTimeout(() => { sock.destroy() }, idle)
      }
    }
    sock.once('close', () => { clearTimeout(frameTimer) })
    const maybeEnd = (): void => {
      if (ended && outstanding === 0 && !sock.destroyed) sock.end()
    }
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0)
        if (buf.length < 2 + len) break
        const msg = buf.subarray(2, 2 + len)
        buf = buf.subarray(2 + len)
        if (++outstanding > MAX_TCP_PIPELINE) {
          sock.destroy()
          return
        }
        this.answer(msg, { tcp: true }).then(out => {
          if (out == null || sock.destroyed || !sock.writable) return
          const frame = Buffer.alloc(2 + out.length)
          frame.writeUInt16BE(out.length, 0)
          frame.set(out, 2)
          sock.write(frame)
          if (sock.writableLength > MAX_TCP_WRITE_BACKLOG) sock.destroy()
        }, (err: Error) => { log.error('tcp query failed: %s', err.message) }).finally(() => {
          outstanding--
          maybeEnd()
        })
      }
      setFrameTimer()
    })
    sock.on('end', () => {
      ended = true
      // a frame cut short by EOF is dropped with the connection
      if (buf.length > 0) {
        sock.destroy()
        return
      }
      maybeEnd()
    })
  }

  async answer (wire: Uint8Array, options: { tcp?: boolean } = {}): Promise<Uint8Array | undefined> {
    const tcp = options.tcp === true
    const parsed = parseDnsQuery(wire)
    if (parsed.kind === 'drop') {
      log('dropped a query: %s', parsed.reason)
      return undefined
    }
    const maxSize = (edns?: { udpSize: number }): number => tcp ? MAX_TCP_MESSAGE : Math.min(edns?.udpSize ?? DNS_CLASSIC_UDP_LIMIT, DNS_MAX_UDP_PAYLOAD)
    if (parsed.kind === 'error') {
      log('malformed query %d: %s', parsed.id, parsed.reason)
      return encodeDnsAnswer(parsed, { rcode: parsed.rcode }, maxSize(parsed.edns), DNS_MAX_UDP_PAYLOAD)
    }
    const query = parsed.query
    const reply = (answer: DnsAnswer): Uint8Array => encodeDnsAnswer(query, answer, maxSize(query.edns), DNS_MAX_UDP_PAYLOAD)
    if (query.edns != null && query.edns.version > 0) return reply({ rcode: DNS_RCODE.BADVERS })

    const zone = this.zoneOf(query.question.lower)
    if (zone == null) return await this.outside(wire, query, tcp, reply)
    const klass = query.question.class
    if (klass !== DNS_CLASS.IN && klass !== DNS_CLASS.ANY) return reply({ rcode: DNS_RCODE.REFUSED })
    if (this.inFlight >= this.maxInFlight) return reply({ rcode: DNS_RCODE.SERVFAIL })
    this.inFlight++
    try {
      return reply(await this.inZone(query, zone))
    } catch (err: any) {
      log('answering %s failed: %s', query.question.lower, err?.message)
      return reply({ rcode: DNS_RCODE.SERVFAIL })
    } finally {
      this.inFlight--
    }
  }

  private zoneOf (lower: string): Zone | undefined {
    const labels = lower === '' ? [] : lower.split('.')
    return this.zones.find(z => z.labels.length <= labels.length && z.labels.every((l, i) => labels[labels.length - z.labels.length + i] === l))
  }

  private async outside (wire: Uint8Array, query: DnsQuery, tcp: boolean, reply: (a: DnsAnswer) => Uint8Array): Promise<Uint8Array> {
    if (this.upstream !== 'system') return reply({ rcode: DNS_RCODE.REFUSED })
    if (this.inFlight >= this.maxInFlight) return reply({ rcode: DNS_RCODE.SERVFAIL, ra: true })
    // never forward to ourselves (a resolv.conf that points at this gateway would loop)
    const servers = (this.init.upstreamServers ?? systemDnsServers())
      .filter(s => !(s.port === this.address.port && (s.host === this.address.host || this.address.host === '0.0.0.0' || this.address.host === '::')))
    if (servers.length === 0) return reply({ rcode: DNS_RCODE.SERVFAIL, ra: true })
    this.inFlight++
    try {
      const answer = await forwardDnsQuery(wire, servers, { tcp, timeout: this.init.upstreamTimeout ?? DNS_UPSTREAM_TIMEOUT, signal: this.shutdown.signal })
      if (answer == null || answer.length < DNS_HEADER_SIZE || (answer[2] & 0x80) === 0) return reply({ rcode: DNS_RCODE.SERVFAIL, ra: true })
      const limit = tcp ? MAX_TCP_MESSAGE : Math.min(query.edns?.udpSize ?? DNS_CLASSIC_UDP_LIMIT, DNS_MAX_UDP_PAYLOAD)
      // an upstream answer too big for this client: truncated, so it retries over TCP
      if (answer.length > limit) return reply({ rcode: answer[3] & 0x0f, ra: true, truncated: true })
      return answer
    } finally {
      this.inFlight--
    }
  }

  private soa (zone: Zone): DnsRecord {
    const apex = zone.labels.join('.')
    return {
      type: DNS_TYPE.SOA,
      name: apex,
      ttl: this.ttl,
      primary: apex,
      admin: `hostmaster.${apex}`,
      serial: 1,
      refresh: 3600,
      retry: 600,
      expiration: 86400,
      minimum: this.ttl
    }
  }

  private async inZone (query: DnsQuery, zone: Zone): Promise<DnsAnswer> {
    const q = query.question
    const rel = q.lower === '' ? [] : q.lower.split('.').slice(0, -zone.labels.length)
    const owner = q.labels.join('.')
    const nodata: DnsAnswer = { rcode: DNS_RCODE.NOERROR, aa: true, authorities: [this.soa(zone)] }
    const nxdomain: DnsAnswer = { rcode: DNS_RCODE.NXDOMAIN, aa: true, authorities: [this.soa(zone)] }
    if (rel.length === 0) {
      if (q.type === DNS_TYPE.SOA || q.type === DNS_TYPE.ANY) return { rcode: DNS_RCODE.NOERROR, aa: true, answers: [{ ...this.soa(zone), name: owner }] }
      return nodata
    }

    if (zone.kind === 'reverse') {
      // <d>.<c>.64.10.in-addr.arpa → 10.64.c.d
      if (rel.length === 1) return /^(0|[1-9]\d{0,2})$/.test(rel[0]) && Number(rel[0]) <= 255 ? nodata : nxdomain
      if (rel.length > 2 || !rel.every(l => /^(0|[1-9]\d{0,2})$/.test(l) && Number(l) <= 255)) return nxdomain
      const base = zone.labels.slice(0, 2).reverse().join('.')
      const entry = this.components.vips.byIp(`${base}.${rel[1]}.${rel[0]}`)
      if (entry == null || entry.names.length === 0) return nxdomain
      if (q.type !== DNS_TYPE.PTR && q.type !== DNS_TYPE.ANY) return nodata
      return { rcode: DNS_RCODE.NOERROR, aa: true, answers: [{ type: DNS_TYPE.PTR, name: owner, ttl: this.ttl, domain: this.forwardName(entry.names[0]) }] }
    }

    let name: string
    if (zone.kind === 'network') {
      if (rel.length !== 1) return nxdomain
      name = `${rel[0]}.${zone.labels.join('.')}`
    } else {
      // <network>.p2p exists as a parent of its hosts
      if (rel.length === 1) return LABEL_RE.test(rel[0]) ? nodata : nxdomain
      if (rel.length !== 2) return nxdomain
      name = `${rel[0]}.${rel[1]}`
    }
    if (!name.split('.').every(l => LABEL_RE.test(l))) return nxdomain
    const peerId = await this.lookup(name)
    if (peerId == null) return nxdomain
    const ip = this.components.vips.assign(peerId, name)
    if (q.type !== DNS_TYPE.A && q.type !== DNS_TYPE.ANY) return nodata
    return { rcode: DNS_RCODE.NOERROR, aa: true, answers: [{ type: DNS_TYPE.A, name: owner, ttl: this.ttl, address: ip }] }
  }

  /** The name PTR answers carry: `host.network.<first suffix>`. */
  private forwardName (name: string): string {
    const suffix = this.zones.find(z => z.kind === 'suffix')
    return suffix != null ? `${name}.${suffix.labels.join('.')}` : name
  }

  /** Resolve a mesh name once for every concurrent asker; null when it does not exist. */
  private async lookup (name: string): Promise<string | null> {
    let p = this.pending.get(name)
    if (p == null) {
      const signal = AbortSignal.any([AbortSignal.timeout(this.init.resolveTimeout ?? DNS_RESOLVE_TIMEOUT), this.shutdown.signal])
      p = this.components.resolve(name, { signal }).then(r => r.peerId, (err: Error) => {
        if (err?.name === 'NameNotFoundError' || err?.name === 'InvalidNameError') return null
        throw err
      })
      this.pending.set(name, p)
      p.finally(() => { this.pending.delete(name) }).catch(() => {})
    }
    return await p
  }
}

/**
 * Create the DNS gateway: answers A queries for `<host>.<network>.p2p`
 * (and other configured zones) with the peer's virtual IP, PTR queries for
 * those addresses, NXDOMAIN for unknown names and NODATA for other types in
 * our zones; names outside our zones are refused or forwarded. It serves
 * UDP and TCP on one address, parses queries with a bounded parser and
 * never answers more than the query allows. Call `start()` next.
 */
export function createDnsGateway (init: DnsGatewayInit, components: DnsGatewayComponents): DnsGateway {
  return new Gateway(init, components)
}
