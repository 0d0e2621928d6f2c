import { createSocket } from 'node:dgram'
import { createServer, isIPv6 } from 'node:net'
import { logger } from '@libp2p/logger'
import {
  DNS_LISTEN, DNS_MAX_IN_FLIGHT, DNS_MAX_TCP_CONNECTIONS, DNS_MAX_UDP_PAYLOAD, DNS_RESOLVE_TIMEOUT,
  DNS_SUFFIXES, DNS_TCP_IDLE_TIMEOUT, DNS_TTL, DNS_UPSTREAM, DNS_UPSTREAM_TIMEOUT
} from '../../constants.js'
import { parseHostPort } from '../../services/service-registry.js'
import { bindUdp, closeServer, closeUdp, listenOn } from '../../util/listen.js'
import { DNS_CLASS, DNS_CLASSIC_UDP_LIMIT, DNS_HEADER_SIZE, DNS_RCODE, encodeDnsAnswer, parseDnsQuery } from './message.js'
import { createZones } from './zones.js'
import { forwardDnsQuery, systemDnsServers } from './forwarder.js'
import type { DnsAnswer, DnsQuery } from './message.js'
import type { Zones } from './zones.js'
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

const MAX_TCP_MESSAGE = 0xffff
/** Queries one TCP connection may have outstanding. */
const MAX_TCP_PIPELINE = 32
/** Answers one TCP connection may leave unread before it is dropped. */
const MAX_TCP_WRITE_BACKLOG = 256 * 1024

/** The largest answer a client may get: 64 KiB over TCP, else its EDNS size (512 without) capped at DNS_MAX_UDP_PAYLOAD. */
function maxAnswerSize (tcp: boolean, edns?: { udpSize: number }): number {
  return tcp ? MAX_TCP_MESSAGE : Math.min(edns?.udpSize ?? DNS_CLASSIC_UDP_LIMIT, DNS_MAX_UDP_PAYLOAD)
}

class Gateway implements DnsGateway {
  address: { host: string, port: number }
  private readonly zones: Zones
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
    this.upstream = init.upstream ?? DNS_UPSTREAM
    this.maxInFlight = init.maxInFlight ?? DNS_MAX_IN_FLIGHT
    this.zones = createZones(
      { suffixes: init.suffixes ?? DNS_SUFFIXES, bareNetworks: init.bareNetworks ?? [], ttl: init.ttl ?? DNS_TTL },
      { vips: components.vips, lookup: async (name) => await this.lookup(name) }
    )
  }

  async start (): Promise<void> {
    const wanted = this.address
    // port 0: UDP picks a port, TCP must get the same one; retry if someone else holds it
    for (let attempt = 0; ; attempt++) {
      const udp = createSocket({ type: isIPv6(wanted.host) ? 'udp6' : 'udp4' })
      await bindUdp(udp, wanted.port, wanted.host).catch((err: Error) => { throw new Error(`DNS gateway: cannot listen on udp ${wanted.host}:${wanted.port}: ${err.message}`, { cause: err }) })
      const port = udp.address().port
      const tcp = createServer({ allowHalfOpen: true }, (s) => { this.onTcp(s) })
      try {
        await listenOn(tcp, { port, host: wanted.host })
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
      log('listening on %s:%d (udp+tcp), zones %s', wanted.host, port, this.zones.list.map(z => z.labels.join('.')).join(', '))
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
    if (udp != null) await closeUdp(udp)
    if (tcp != null) await closeServer(tcp)
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
    const maxSize = (edns?: { udpSize: number }): number => maxAnswerSize(tcp, edns)
    if (parsed.kind === 'error') {
      log('malformed query %d: %s', parsed.id, parsed.reason)
      return encodeDnsAnswer(parsed, { rcode: parsed.rcode }, maxSize(parsed.edns), DNS_MAX_UDP_PAYLOAD)
    }
    const query = parsed.query
    const reply = (answer: DnsAnswer): Uint8Array => encodeDnsAnswer(query, answer, maxSize(query.edns), DNS_MAX_UDP_PAYLOAD)
    if (query.edns != null && query.edns.version > 0) return reply({ rcode: DNS_RCODE.BADVERS })

    const zone = this.zones.zoneOf(query.question.lower)
    if (zone == null) return await this.outside(wire, query, tcp, reply)
    const klass = query.question.class
    if (klass !== DNS_CLASS.IN && klass !== DNS_CLASS.ANY) return reply({ rcode: DNS_RCODE.REFUSED })
    if (this.inFlight >= this.maxInFlight) return reply({ rcode: DNS_RCODE.SERVFAIL })
    this.inFlight++
    try {
      return reply(await this.zones.answer(query, zone))
    } catch (err: any) {
      log('answering %s failed: %s', query.question.lower, err?.message)
      return reply({ rcode: DNS_RCODE.SERVFAIL })
    } finally {
      this.inFlight--
    }
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
      const limit = maxAnswerSize(tcp, query.edns)
      // an upstream answer too big for this client: truncated, so it retries over TCP
      if (answer.length > limit) return reply({ rcode: answer[3] & 0x0f, ra: true, truncated: true })
      return answer
    } finally {
      this.inFlight--
    }
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
